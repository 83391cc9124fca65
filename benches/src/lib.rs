//! Strata benchmark support: workload generators. (In progress.)
