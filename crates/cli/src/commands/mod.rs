//! One module per subcommand.

pub mod radius;
pub mod reproduce;
pub mod zoo;
