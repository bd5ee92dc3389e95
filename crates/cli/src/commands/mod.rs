//! One module per subcommand.

pub mod radius;
pub mod reproduce;
pub mod slurm;
pub mod zoo;
