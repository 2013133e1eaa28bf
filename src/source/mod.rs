//! Sources: each turns its input into Arrow record batches of the read types, nothing else.

pub mod cell;
mod cell_text;
pub mod csv;
pub mod mysql;
pub mod mysqldump;
