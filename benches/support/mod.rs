//! What the criterion benches of `wallet_debit.rs`, `storage_flush.rs` and
//! `recovery.rs` share: deterministic ids, and data directories on the disk
//! being measured.
#![allow(dead_code)]

/// A deterministic id: `kind` in the first byte, `n` in the last eight
/// (the UUID version and variant bits live in bytes 6 and 8, so `n < 2^56`).
pub fn id_bytes(kind: u8, n: u64) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes[0] = kind;
    bytes[8..].copy_from_slice(&n.to_be_bytes());
    bytes
}

/// A fresh directory under `target/tmp`, i.e. on the disk being measured,
/// not a tmpfs; removed when dropped.
pub fn data_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("create bench data directory")
}
