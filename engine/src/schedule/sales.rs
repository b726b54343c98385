//! A schedule's sales figures for the box office, derived from its state:
//! seat counts, the money kept (paid reservations still confirmed) and the
//! money refunded, and sold seats and revenue per price grade.

use super::reservation::ReservationStatus;
use super::seat_table::SeatCounts;
use super::Schedule;
use crate::Money;

/// Sold seats and revenue of one price grade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GradeSales {
    pub grade: String,
    pub sold: u32,
    pub revenue: Money,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SalesFigures {
    pub counts: SeatCounts,
    /// What the confirmed reservations paid: every payment minus every refund.
    pub revenue: Money,
    /// What the cancellations of paid reservations owe or paid back.
    pub refunded: Money,
    /// Seats taken off sale (in `counts.sold`, which is what the public sees).
    pub blocked: u32,
    /// Seats issued free (comps): sold seats with no revenue.
    pub comps: u32,
    /// Every grade of the layout, in layout order, sold or not.
    pub by_grade: Vec<GradeSales>,
}

impl Schedule {
    /// The sales figures now. O(sold seats): an admin read, not a hot path.
    /// `None` only if a sum overflows `Money`, which prices checked at
    /// creation rule out.
    pub fn sales(&self) -> Option<SalesFigures> {
        let mut by_grade: Vec<GradeSales> = Vec::new();
        for section in &self.layout().sections {
            if !by_grade.iter().any(|g| g.grade == section.grade) {
                by_grade.push(GradeSales {
                    grade: section.grade.clone(),
                    sold: 0,
                    revenue: Money::ZERO,
                });
            }
        }
        let (mut revenue, mut comps) = (Money::ZERO, 0);
        for reservation in &self.reservations {
            if !matches!(reservation.status, ReservationStatus::Confirmed { .. }) {
                continue;
            }
            let comp = self.comps.contains(&reservation.id);
            if comp {
                comps += reservation.seats.len() as u32;
            }
            revenue = revenue.checked_add(reservation.amount)?;
            for &seat in &reservation.seats {
                let info = self.seat_map.info(seat);
                let grade = by_grade.iter_mut().find(|g| g.grade == info.grade)?;
                grade.sold += 1;
                if !comp {
                    grade.revenue = grade.revenue.checked_add(info.price)?;
                }
            }
        }
        Some(SalesFigures {
            counts: self.counts(),
            revenue,
            refunded: self.refunded,
            blocked: self.blocked_count(),
            comps,
            by_grade,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_fixture::*;
    use crate::Money;

    #[test]
    fn figures_follow_payments_and_refunds() {
        let mut s = uniform_schedule(1, 1, 8);
        hold_ids(&mut s, 1, user(1), &["S0-1-1", "S0-1-2"], T0).expect("hold 1");
        pay(&mut s, 1, user(1), T0).expect("paid 1");
        hold_ids(&mut s, 2, user(2), &["S0-1-3"], T0).expect("hold 2");
        pay(&mut s, 2, user(2), T0).expect("paid 2");
        hold_ids(&mut s, 3, user(3), &["S0-1-4"], T0).expect("hold 3");
        s.cancel(rid(2), user(2), T0).expect("refunded");
        let sales = s.sales().expect("figures");
        assert_eq!(
            (sales.counts.sold, sales.counts.held, sales.counts.available),
            (2, 1, 5)
        );
        assert_eq!(sales.revenue, Money(20_000));
        assert_eq!(sales.refunded, Money(10_000));
        assert_eq!(sales.by_grade.len(), 1);
        assert_eq!(
            (sales.by_grade[0].sold, sales.by_grade[0].revenue),
            (2, Money(20_000))
        );
    }
}
