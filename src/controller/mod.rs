pub mod machine;
pub mod placement;
