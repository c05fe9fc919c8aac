//! The benchmarker's library against stand-in programs in temporary directories.

mod version;
