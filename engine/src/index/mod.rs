//! The inverted index. (In progress.)
