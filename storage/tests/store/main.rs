//! The storage crate's integration tests, one test binary: the codec, group
//! commit, each store on its own (the fault-injecting memory store, sled), and
//! the contract every `Store` implementation must keep.

mod codec;
mod group_commit;
mod memory_store;
mod sled_store;
mod store_contract;
