//! Alert tiers: each crossed tier claimed once across instances and
//! raised as a log event and an EMF metric.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Ledger;
use crate::pricing::Cost;
use crate::store::{CostRecord, Running};

impl Ledger {
    /// Raises each tier the totals have reached, once across all
    /// instances: a tier this instance has not seen claimed is claimed in
    /// the store by this record (a conditional write that only the first
    /// claimant wins, its own retries included), and alerts if it won. A
    /// claim that fails is tried again with the next record.
    pub(super) async fn check_tiers(&self, record: &CostRecord, running: Running) {
        let scopes = [
            ("overall".to_owned(), running.overall),
            (format!("day:{}", record.day), running.day),
        ];
        for (scope, total) in scopes {
            for &tier in &self.tiers {
                if total < tier.saturating_mul(Cost::PER_USD) {
                    continue;
                }
                let seen = (scope.clone(), tier);
                if self.claimed.lock().map_or(true, |c| c.contains(&seen)) {
                    continue;
                }
                let mut claim = Err(crate::store::StoreError(String::new()));
                for wait in [0u64, 50, 250] {
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                    claim = self
                        .store
                        .claim_alert(&scope, tier, &record.record_id)
                        .await;
                    if claim.is_ok() {
                        break;
                    }
                }
                match claim {
                    Ok(won) => {
                        if let Ok(mut c) = self.claimed.lock() {
                            c.insert(seen);
                        }
                        if won {
                            self.alerts.fetch_add(1, Ordering::Relaxed);
                            emit_alert(&self.stack, &scope, tier, Cost(total));
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, scope, tier, "alert tier not claimed yet"),
                }
            }
        }
    }
}

/// A crossed tier: a structured log event, and a CloudWatch Embedded Metric
/// Format line (namespace `LlmGateway`, metric `CostAlertTier`, dimension
/// `Scope` = `overall` or `day`) that the SAM template's alarms watch.
fn emit_alert(stack: &str, scope: &str, tier: u64, total: Cost) {
    tracing::warn!(
        target: "gateway::alert",
        scope,
        tier_usd = tier,
        total_usd = %total,
        "cost alert tier crossed"
    );
    println!(
        "{}",
        crate::metrics::emf::alert_line(stack, scope, tier, total)
    );
}
