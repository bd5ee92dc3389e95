//! One module per subcommand.

pub mod bench;
pub mod radius;
pub mod reproduce;
pub mod slurm;
pub mod zoo;
