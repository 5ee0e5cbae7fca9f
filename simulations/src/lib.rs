//! qun-sim: many real qun nodes in one process, under network conditions (issue 4; not
//! yet built). The crate exists so the workspace layout matches the design.
