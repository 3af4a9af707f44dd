//! Evidence that an outsider can check: the Merkle tree over deliveries ([`merkle`]), whose
//! signed heads and proofs let anyone confirm that a delivery is in the log and that the log
//! was only ever appended to.

pub mod audit;
pub mod heads;
pub mod keys;
pub mod merkle;
pub mod notary;
pub mod proofs;
