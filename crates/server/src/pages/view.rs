//! What each page shows, computed from the store's answers: pure functions.
