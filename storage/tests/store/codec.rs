//! The codec: round trips, and every kind of damage reported as Corrupt.

use std::collections::BTreeMap;

use boxoffice_storage::codec::{decode, decode_record, encode, HEADER_BYTES, RECORD_VERSION};
use boxoffice_storage::StoreError;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Event {
    Held { seats: Vec<u32>, until: i64 },
    Released(u64),
    Noted(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Batch {
    events: Vec<Event>,
    idempotency: BTreeMap<String, Option<u64>>,
    amount: i64,
}

fn sample() -> Batch {
    Batch {
        events: vec![
            Event::Held {
                seats: vec![1, 2, 3],
                until: -5,
            },
            Event::Released(u64::MAX),
            Event::Noted("é ok".to_owned()),
        ],
        idempotency: BTreeMap::from([("k1".to_owned(), Some(7)), ("k2".to_owned(), None)]),
        amount: i64::MIN,
    }
}

fn assert_corrupt<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::Corrupt(_))),
        "expected Corrupt, got {result:?}"
    );
}

#[test]
fn round_trips_structs_enums_and_primitives() {
    let batch = sample();
    assert_eq!(decode::<Batch>(&encode(&batch).unwrap()).unwrap(), batch);
    assert_eq!(decode::<u64>(&encode(&42u64).unwrap()).unwrap(), 42);
    assert_eq!(
        decode::<String>(&encode(&String::new()).unwrap()).unwrap(),
        ""
    );
    assert_eq!(
        decode::<Option<Event>>(&encode(&None::<Event>).unwrap()).unwrap(),
        None
    );
    assert_eq!(decode::<()>(&encode(&()).unwrap()).unwrap(), ());
}

#[test]
fn layout_is_version_then_crc_then_payload() {
    let bytes = encode(&7u8).unwrap();
    assert_eq!(bytes[0], RECORD_VERSION);
    let payload = &bytes[HEADER_BYTES..];
    assert_eq!(payload, &[7u8]);
    assert_eq!(
        &bytes[1..HEADER_BYTES],
        &crc32fast::hash(payload).to_le_bytes()
    );
}

#[test]
fn empty_buffer_is_corrupt() {
    assert_corrupt(decode::<u8>(&[]));
}

#[test]
fn unknown_version_is_corrupt() {
    let mut bytes = encode(&sample()).unwrap();
    for version in [0u8, 2, 255] {
        bytes[0] = version;
        assert_corrupt(decode::<Batch>(&bytes));
    }
}

#[test]
fn every_truncation_is_corrupt() {
    let bytes = encode(&sample()).unwrap();
    for len in 0..bytes.len() {
        assert_corrupt(decode::<Batch>(&bytes[..len]));
    }
}

#[test]
fn trailing_bytes_are_corrupt_even_with_a_matching_crc() {
    let bytes = encode(&5u32).unwrap();
    let mut payload = bytes[HEADER_BYTES..].to_vec();
    payload.push(0);
    let mut forged = vec![RECORD_VERSION];
    forged.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    forged.extend_from_slice(&payload);
    let err = decode::<u32>(&forged).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(why) if why.contains("trailing")),
        "{err:?}"
    );
    // And without fixing the CRC, the checksum catches it first.
    let mut appended = bytes.clone();
    appended.push(0);
    assert_corrupt(decode::<u32>(&appended));
}

#[test]
fn every_flipped_bit_is_corrupt() {
    let bytes = encode(&sample()).unwrap();
    for byte in 1..bytes.len() {
        for bit in 0..8 {
            let mut damaged = bytes.clone();
            damaged[byte] ^= 1 << bit;
            assert_corrupt(decode::<Batch>(&damaged));
        }
    }
}

#[test]
fn undecodable_payload_with_valid_crc_is_corrupt() {
    // A valid u8 payload decoded as a String: length prefix 200 with no bytes after it.
    let bytes = encode(&200u8).unwrap();
    assert_corrupt(decode::<String>(&bytes));
    // An enum variant index that does not exist.
    let bytes = encode(&9u32).unwrap();
    assert_corrupt(decode::<Event>(&bytes));
}

#[test]
fn decode_record_names_the_log_and_lsn() {
    let err = decode_record::<u8>("wallet/07", 12, &[]).unwrap_err();
    match err {
        StoreError::Corrupt(why) => {
            assert!(why.contains("wallet/07") && why.contains("12"), "{why}")
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(
        decode_record::<u8>("wallet/07", 12, &encode(&3u8).unwrap()).unwrap(),
        3
    );
}

proptest! {
    #[test]
    fn round_trips_arbitrary_values(
        seats in proptest::collection::vec(any::<u32>(), 0..50),
        until in any::<i64>(),
        note in ".{0,40}",
        amount in any::<i64>(),
        keys in proptest::collection::btree_map("[a-z]{1,8}", proptest::option::of(any::<u64>()), 0..8),
    ) {
        let batch = Batch {
            events: vec![Event::Held { seats, until }, Event::Noted(note)],
            idempotency: keys,
            amount,
        };
        prop_assert_eq!(decode::<Batch>(&encode(&batch).unwrap()).unwrap(), batch);
    }
}
