//! The board's copy of the engine's `EtaModel`, read by every poll without
//! a lock.
//!
//! The model is some 100 numbers (the rates and the room's forecast curve),
//! too many for one atomic, and a poll must not mix two of them: a curve
//! half old and half new can jump back. So it is kept in atomics behind a
//! sequence number (a seqlock): the one writer makes the number odd, writes,
//! and makes it even again; a reader reads the number, the fields, and the
//! number again, and tries again if it changed or was odd. The writer
//! publishes a few times a second, so a retry is rare; after
//! `READ_ATTEMPTS` the reader keeps what it read (the curve's reader keeps
//! it monotone, `Curve::seconds_at`), never waits.

use boxoffice_engine::queue::forecast::{Curve, CURVE_POINTS};
use boxoffice_engine::queue::EtaModel;
use boxoffice_engine::Timestamp;
use std::sync::atomic::{fence, AtomicI64, AtomicU32, AtomicU64, Ordering};

/// Reads tried before a reader keeps a possibly mixed model.
const READ_ATTEMPTS: usize = 8;

pub(super) struct EtaCell {
    /// Odd while the writer writes.
    sequence: AtomicU64,
    room: AtomicU64,
    /// f64 bits.
    batch_per_sec: AtomicU64,
    room_limited_per_sec: AtomicU64,
    /// `i64::MIN` without a forecast.
    forecast_as_of_ms: AtomicI64,
    /// f64 bits.
    forecast_after_per_sec: AtomicU64,
    /// f32 bits.
    forecast_admitted: [AtomicU32; CURVE_POINTS],
}

impl Default for EtaCell {
    fn default() -> EtaCell {
        EtaCell {
            sequence: AtomicU64::new(0),
            room: AtomicU64::new(0),
            batch_per_sec: AtomicU64::new(0),
            room_limited_per_sec: AtomicU64::new(0),
            forecast_as_of_ms: AtomicI64::new(i64::MIN),
            forecast_after_per_sec: AtomicU64::new(0),
            forecast_admitted: std::array::from_fn(|_| AtomicU32::new(0)),
        }
    }
}

impl EtaCell {
    /// For the board's one writer.
    pub fn store(&self, eta: &EtaModel) {
        let sequence = self.sequence.load(Ordering::Relaxed);
        self.sequence
            .store(sequence.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.room.store(eta.room, Ordering::Relaxed);
        self.batch_per_sec
            .store(eta.batch_per_sec.to_bits(), Ordering::Relaxed);
        self.room_limited_per_sec
            .store(eta.room_limited_per_sec.to_bits(), Ordering::Relaxed);
        match &eta.forecast {
            Some(curve) => {
                self.forecast_after_per_sec
                    .store(curve.after_per_sec.to_bits(), Ordering::Relaxed);
                for (cell, value) in self.forecast_admitted.iter().zip(curve.admitted) {
                    cell.store(value.to_bits(), Ordering::Relaxed);
                }
                self.forecast_as_of_ms
                    .store(curve.as_of.millis(), Ordering::Relaxed);
            }
            None => self.forecast_as_of_ms.store(i64::MIN, Ordering::Relaxed),
        }
        self.sequence
            .store(sequence.wrapping_add(2), Ordering::Release);
    }

    pub fn load(&self) -> EtaModel {
        let mut attempts = 1;
        loop {
            let before = self.sequence.load(Ordering::Acquire);
            let eta = self.read();
            fence(Ordering::Acquire);
            let unchanged =
                before.is_multiple_of(2) && self.sequence.load(Ordering::Relaxed) == before;
            if unchanged || attempts >= READ_ATTEMPTS {
                return eta;
            }
            attempts += 1;
            std::hint::spin_loop();
        }
    }

    fn read(&self) -> EtaModel {
        let rate = |bits: &AtomicU64| f64::from_bits(bits.load(Ordering::Relaxed));
        let as_of_ms = self.forecast_as_of_ms.load(Ordering::Relaxed);
        let forecast = (as_of_ms != i64::MIN).then(|| Curve {
            as_of: Timestamp(as_of_ms),
            admitted: std::array::from_fn(|k| {
                f32::from_bits(self.forecast_admitted[k].load(Ordering::Relaxed))
            }),
            after_per_sec: rate(&self.forecast_after_per_sec),
        });
        EtaModel {
            room: self.room.load(Ordering::Relaxed),
            batch_per_sec: rate(&self.batch_per_sec),
            room_limited_per_sec: rate(&self.room_limited_per_sec),
            forecast,
        }
    }
}
