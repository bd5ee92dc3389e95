//! One module per subcommand.

pub mod bench;
pub mod monitor;
pub mod radius;
pub mod reproduce;
pub mod slurm;
pub mod zoo;
