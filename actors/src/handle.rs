//! How the rest of the process talks to an actor: through a handle that
//! enforces the actor's in-flight bound before anything reaches its mailbox.
//!
//! Generic over the actor: which actor owns what is the business of the
//! `routing` module.

use actix::dev::ToEnvelope;
use actix::prelude::*;
use std::sync::Arc;
use tokio::sync::oneshot;

use crate::error::{EngineError, EngineResult};
use crate::in_flight::InFlight;

pub struct Handle<A: Actor> {
    addr: Addr<A>,
    in_flight: Arc<InFlight>,
}

impl<A: Actor> Clone for Handle<A> {
    fn clone(&self) -> Self {
        Handle {
            addr: self.addr.clone(),
            in_flight: Arc::clone(&self.in_flight),
        }
    }
}

impl<A: Actor> Handle<A> {
    pub fn new(addr: Addr<A>, in_flight_limit: usize) -> Self {
        Handle {
            addr,
            in_flight: InFlight::new(in_flight_limit),
        }
    }

    pub fn addr(&self) -> &Addr<A> {
        &self.addr
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.current()
    }

    /// Sends a state-changing command and waits for its durable reply.
    pub async fn command<M, T>(&self, msg: M) -> EngineResult<T>
    where
        M: Message<Result = oneshot::Receiver<EngineResult<T>>> + Send + 'static,
        T: Send + 'static,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        let _permit = self
            .in_flight
            .try_acquire()
            .ok_or(EngineError::Unavailable)?;
        let pending = self
            .addr
            .send(msg)
            .await
            .map_err(|_| EngineError::Unavailable)?;
        // A dropped sender means the actor restarted with our reply staged: the
        // outcome is unknown to us, so say "try again" (keyed retries are safe).
        pending.await.map_err(|_| EngineError::Unavailable)?
    }

    /// Sends a command that finishes work already begun (the last steps of a
    /// payment or refund saga), bypassing the in-flight bound: refusing it
    /// would leave money moved and seats unconfirmed until a restart. Only
    /// sagas whose first step passed the in-flight bound use this, so the
    /// extra load is bounded by the sagas that were let in.
    pub async fn finish<M, T>(&self, msg: M) -> EngineResult<T>
    where
        M: Message<Result = oneshot::Receiver<EngineResult<T>>> + Send + 'static,
        T: Send + 'static,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        let pending = self
            .addr
            .send(msg)
            .await
            .map_err(|_| EngineError::Unavailable)?;
        pending.await.map_err(|_| EngineError::Unavailable)?
    }

    /// Sends a query answered straight from memory.
    pub async fn query<M, T>(&self, msg: M) -> EngineResult<T>
    where
        M: Message<Result = T> + Send + 'static,
        T: Send + 'static,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        let _permit = self
            .in_flight
            .try_acquire()
            .ok_or(EngineError::Unavailable)?;
        self.addr
            .send(msg)
            .await
            .map_err(|_| EngineError::Unavailable)
    }
}
