//! Evidence that an outsider can check: the Merkle tree over deliveries ([`merkle`]), whose
//! signed heads and proofs let anyone confirm that a delivery is in the log and that the log
//! was only ever appended to.

#[cfg(feature = "gateway")]
pub mod audit;
#[cfg(feature = "gateway")]
pub mod heads;
pub mod keys;
#[cfg(feature = "gateway")]
pub mod merkle;
#[cfg(feature = "gateway")]
pub mod notary;
#[cfg(feature = "gateway")]
pub mod proofs;
