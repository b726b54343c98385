//! Bodies of the admin operations on one schedule: the answer of its
//! cancellation, its sales figures, and its blocked seats.

use boxoffice_actors::schedule_actor::BlockedSeat;
use boxoffice_engine::ids::ScheduleId;
use boxoffice_engine::schedule::{CancellationSummary, SalesFigures};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What cancelling a schedule does (counts of reservations, money in integers).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleCancelledBody {
    pub schedule_id: String,
    /// Always `CANCELLED`.
    pub status: &'static str,
    /// Holds (reservations HELD, no payment in flight) released.
    pub released_holds: u32,
    /// Paid reservations refunded in full to their wallets.
    pub refunded_reservations: u32,
    /// The sum of those refunds.
    pub refunded_amount: i64,
}

impl ScheduleCancelledBody {
    pub fn new(schedule_id: ScheduleId, summary: &CancellationSummary) -> Self {
        ScheduleCancelledBody {
            schedule_id: schedule_id.to_string(),
            status: "CANCELLED",
            released_holds: summary.released_holds,
            refunded_reservations: summary.refunded_reservations,
            refunded_amount: summary.refunded_amount.0,
        }
    }
}

/// Sold seats and revenue of one price grade.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GradeSalesBody {
    pub grade: String,
    pub sold: u32,
    pub revenue: i64,
}

/// A schedule's sales: seat counts (`sold + held + available + blocked =
/// capacity`; comps are among `sold`) and money (integers).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SalesBody {
    pub schedule_id: String,
    pub capacity: u32,
    pub sold: u32,
    pub held: u32,
    pub available: u32,
    /// What the paid reservations still confirmed paid: payments net of refunds.
    pub revenue: i64,
    /// The money refunded by cancellations of paid reservations.
    pub refunded: i64,
    /// Seats issued free (comps): counted in `sold`, not in `revenue`.
    pub comps: u32,
    /// Seats taken off sale (the public seat map shows them SOLD).
    pub blocked: u32,
    /// Every price grade of the layout, in layout order.
    pub by_grade: Vec<GradeSalesBody>,
}

impl SalesBody {
    pub fn new(schedule_id: ScheduleId, sales: &SalesFigures) -> Self {
        SalesBody {
            schedule_id: schedule_id.to_string(),
            capacity: sales.counts.total,
            // The public counts fold blocked seats into sold; here they are apart.
            sold: sales.counts.sold - sales.blocked,
            held: sales.counts.held,
            available: sales.counts.available,
            revenue: sales.revenue.0,
            refunded: sales.refunded.0,
            comps: sales.comps,
            blocked: sales.blocked,
            by_grade: sales
                .by_grade
                .iter()
                .map(|g| GradeSalesBody {
                    grade: g.grade.clone(),
                    sold: g.sold,
                    revenue: g.revenue.0,
                })
                .collect(),
        }
    }
}

/// Block seats: `seatIds` (free seats, all or none) and why.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlockRequestBody {
    pub seat_ids: Vec<String>,
    /// 1-200 bytes, not only blanks (for example "sound desk").
    pub reason: String,
}

/// Unblock seats: `seatIds` (blocked seats, all or none).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnblockRequestBody {
    pub seat_ids: Vec<String>,
}

/// Issue blocked seats free to an existing user (a comp).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompRequestBody {
    pub seat_ids: Vec<String>,
    pub user_id: String,
}

/// A seat taken off sale, and why.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlockedSeatBody {
    pub seat_id: String,
    pub reason: String,
}

/// Every blocked seat of a schedule, in seat order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlocksBody {
    pub schedule_id: String,
    pub blocks: Vec<BlockedSeatBody>,
}

impl BlocksBody {
    pub fn new(schedule_id: ScheduleId, blocks: Vec<BlockedSeat>) -> Self {
        BlocksBody {
            schedule_id: schedule_id.to_string(),
            blocks: blocks
                .into_iter()
                .map(|(seat_id, reason)| BlockedSeatBody { seat_id, reason })
                .collect(),
        }
    }
}
