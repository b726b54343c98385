//! A concert's life after creation, as the API layer calls it: edit its
//! text (PATCH), publish a DRAFT, and who may see a DRAFT and its schedules.
//!
//! A DRAFT concert and its schedules exist for admins only: to anyone else
//! every read or operation naming them is `NotFound`, exactly as for an id
//! that names nothing (API.md "Running a box office"). Concert reads ask
//! [`Registry::sees_drafts`]; schedule operations (seat maps, holds, queue
//! joins) ask [`Registry::reachable`], which reads the catalogue's
//! `DraftBoard` without a message to any actor, so the hot paths pay one
//! uncontended read lock and nothing more.

use boxoffice_engine::ids::{ConcertId, ScheduleId, UserId};

use crate::accounts::Role;
use crate::catalog::{check_category, check_description, check_title};
use crate::catalog_actor::{Concert, ConcertText, EditConcert, PublishConcert};
use crate::catalog_query::ConcertDetail;
use crate::error::{EngineError, EngineResult, Missing};
use crate::registry::Registry;

/// The fields a PATCH may change; `None` keeps the current value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConcertPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
}

impl ConcertPatch {
    /// The same rules as creation (`catalog::validate_concert`).
    fn validate(&self) -> EngineResult<()> {
        if let Some(title) = &self.title {
            check_title(title)?;
        }
        if let Some(description) = &self.description {
            check_description(description)?;
        }
        if let Some(category) = &self.category {
            check_category(category)?;
        }
        Ok(())
    }
}

impl Registry {
    /// Whether `user` (anonymous when `None`) sees DRAFT concerts: ADMINs
    /// only, by their role now (not a token's claim).
    pub fn sees_drafts(&self, user: Option<UserId>) -> bool {
        user.is_some_and(|u| self.role_of(u) == Some(Role::Admin))
    }

    /// `NotFound(Schedule)` when the schedule belongs to a DRAFT concert and
    /// `user` is not an ADMIN; otherwise nothing is said (the operation
    /// itself finds out whether the schedule exists).
    pub fn reachable(&self, schedule_id: ScheduleId, user: Option<UserId>) -> EngineResult<()> {
        if self.drafts().is_hidden(schedule_id) && !self.sees_drafts(user) {
            return Err(EngineError::NotFound(Missing::Schedule));
        }
        Ok(())
    }

    /// The concert, or `NotFound(Concert)`, also for a DRAFT `user` may not see.
    pub async fn visible_concert(
        &self,
        concert_id: ConcertId,
        user: Option<UserId>,
    ) -> EngineResult<Concert> {
        let concert = self.concert(concert_id).await?;
        if concert.status.is_draft() && !self.sees_drafts(user) {
            return Err(EngineError::NotFound(Missing::Concert));
        }
        Ok(concert)
    }

    /// Changes the fields `patch` names (validated as at creation); answers
    /// the concert as it now is, with its schedules' counts.
    pub async fn edit_concert(
        &self,
        concert_id: ConcertId,
        patch: ConcertPatch,
    ) -> EngineResult<ConcertDetail> {
        let current = self.concert(concert_id).await?;
        patch.validate()?;
        let text = ConcertText {
            concert_id,
            title: patch.title.unwrap_or(current.title),
            description: patch.description.unwrap_or(current.description),
            category: patch.category.unwrap_or(current.category),
        };
        let edited = self.catalog().command(EditConcert(text)).await?;
        self.detail_of(edited).await
    }

    /// DRAFT → PUBLISHED; `AlreadyPublished` when it is not a DRAFT.
    pub async fn publish_concert(&self, concert_id: ConcertId) -> EngineResult<ConcertDetail> {
        let published = self.catalog().command(PublishConcert(concert_id)).await?;
        self.detail_of(published).await
    }
}
