//! Points in time: opening one snapshots the indices it names (copy-on-write, so it costs
//! nothing until a write), every search under it answers a new id, and closing or expiring
//! it makes its ids unknown.

use serde_json::{Value, json};

use super::request::{Req, check_keys, check_time_value};
use super::search::{parse_search, run_search};
use super::server::{Handled, Reject, Reply};
use super::state::{Pit, State};

impl State {
    pub(super) fn open_pit(&mut self, req: &Req, patterns: &str) -> Handled {
        req.allow_params(&["keep_alive", "ignore_unavailable"])?;
        req.no_body()?;
        let Some(keep_alive) = req.param("keep_alive") else {
            return Err(Reject::violation(
                "Validation Failed: 1: [keep_alive] is not specified;",
            ));
        };
        check_time_value("keep_alive", keep_alive)?;
        let names = self.expand(patterns, req.bool_param("ignore_unavailable")?)?;
        let indices = self.snapshot(&names);
        let number = self.next_pit;
        self.next_pit += 1;
        let id = pit_id(number, 0);
        self.pit_ids.insert(id.clone(), number);
        self.pits.insert(
            number,
            Pit {
                indices,
                expired: false,
                issued: 1,
            },
        );
        let n = names.len();
        Ok(Reply::json(
            200,
            &json!({"id": id, "_shards": {"total": n, "successful": n, "skipped": 0, "failed": 0}}),
        ))
    }

    pub(super) fn close_pit(&mut self, req: &Req) -> Handled {
        req.allow_params(&[])?;
        let body = req.json_body()?;
        check_keys("DELETE /_pit body", &body, &["id"])?;
        let Some(id) = body.get("id").and_then(Value::as_str) else {
            return Err(Reject::violation("DELETE /_pit needs {\"id\": \"<pit>\"}"));
        };
        let open = self
            .pit_ids
            .get(id)
            .copied()
            .filter(|n| self.pits.get(n).is_some_and(|p| !p.expired));
        match open {
            Some(number) => {
                self.pits.remove(&number);
                self.pit_ids.retain(|_, n| *n != number);
                Ok(Reply::json(
                    200,
                    &json!({"succeeded": true, "num_freed": 1}),
                ))
            }
            None => Ok(Reply::json(
                404,
                &json!({"succeeded": true, "num_freed": 0}),
            )),
        }
    }

    pub(super) fn pit_search(&mut self, req: &Req) -> Handled {
        req.allow_params(&["filter_path"])?;
        let body = req.json_body()?;
        let search = parse_search(&body)?;
        let Some(pit) = &search.pit else {
            return Err(Reject::violation(
                "POST /_search without a pit: the protocol always names its indices or a PIT",
            ));
        };
        let number = self
            .pit_ids
            .get(&pit.id)
            .copied()
            .filter(|n| self.pits.get(n).is_some_and(|p| !p.expired))
            .ok_or_else(|| Reject::search_context_missing(&pit.id))?;
        let pit_state = self.pits.get_mut(&number).expect("open PIT");
        let next_id = pit_id(number, pit_state.issued);
        pit_state.issued += 1;
        let indices = pit_state.indices.clone();
        self.pit_ids.insert(next_id.clone(), number);
        // Elasticsearch sorts every PIT search by `_shard_doc` last, unless search_after
        // already gives a value for each sort field.
        let tiebreak = search
            .search_after
            .as_ref()
            .is_none_or(|after| after.len() != search.sort.len());
        let page = run_search(&indices, &search, tiebreak)?;
        let rendered = page.render(Some(&next_id), indices.len());
        Ok(Reply::raw(
            200,
            match req.param("filter_path") {
                Some(paths) => super::search::filter_response(&rendered, paths),
                None => rendered,
            },
        ))
    }
}

pub(super) fn pit_id(number: u64, issued: u64) -> String {
    format!("fake-pit-{number}-{issued}")
}
