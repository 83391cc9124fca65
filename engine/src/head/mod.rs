//! The in-memory head. (In progress.)
