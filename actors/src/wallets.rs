//! Wallet operations as the API layer calls them: charge (under an
//! idempotency key), balance, and the ledger (its newest entries from the
//! wallet actor, older ones from the store: [`crate::wallet_ledger`]).

use boxoffice_engine::ids::{TransactionId, UserId};
use boxoffice_engine::wallet::LedgerEntry;
use boxoffice_engine::Money;

use crate::error::{EngineError, EngineResult};
use crate::idempotency::{run_keyed, IdemTag};
use crate::receipt::{ChargeReceipt, StoredReply};
use crate::registry::Registry;
use crate::wallet_actor::{Charge, GetLedger, GetWallet, WalletView};
use crate::wallet_ledger;

/// Longest ledger page.
pub const MAX_LEDGER_PAGE: usize = 100;

impl Registry {
    pub async fn charge(
        &self,
        user: UserId,
        amount: Money,
        idem: Option<IdemTag>,
    ) -> EngineResult<ChargeReceipt> {
        self.charge_as(user, amount, idem, None).await
    }

    /// A charge whose ledger entry takes `transaction_id` when given (the id
    /// a card top-up answered before its money came).
    pub(crate) async fn charge_as(
        &self,
        user: UserId,
        amount: Money,
        idem: Option<IdemTag>,
        transaction_id: Option<TransactionId>,
    ) -> EngineResult<ChargeReceipt> {
        let now = || self.context().clock.now();
        let unwrap = |r: &StoredReply| match r {
            StoredReply::Charge(result) => Some(result.clone()),
            _ => None,
        };
        let tag = idem.clone();
        let wallet = self.wallet(user);
        run_keyed(
            &self.context().idempotency,
            tag.as_ref(),
            now,
            StoredReply::Charge,
            unwrap,
            || {
                wallet.command(Charge {
                    user,
                    amount,
                    idem,
                    transaction_id,
                })
            },
        )
        .await
    }

    pub async fn wallet_view(&self, user: UserId) -> EngineResult<WalletView> {
        self.wallet(user).query(GetWallet { user }).await
    }

    /// Newest first; returns the page and the total number of entries.
    pub async fn ledger(
        &self,
        user: UserId,
        offset: usize,
        limit: usize,
    ) -> EngineResult<(Vec<LedgerEntry>, usize)> {
        let page = self
            .wallet(user)
            .query(GetLedger {
                user,
                offset,
                limit: limit.min(MAX_LEDGER_PAGE),
            })
            .await?;
        let mut entries = page.recent;
        // Archived entries are never changed or deleted: reading them after
        // the actor answered sees what it saw.
        let store = self.context().commit.store();
        entries.extend(
            wallet_ledger::read_newest_first(store.as_ref(), user, page.archived)
                .map_err(|e| EngineError::Storage(e.to_string()))?,
        );
        let total = usize::try_from(page.total).unwrap_or(usize::MAX);
        Ok((entries, total))
    }
}
