//! A store whose every call is a client span (when tracing is on).

use std::sync::Arc;

use async_trait::async_trait;
use opentelemetry::trace::SpanKind;

use super::{Cell, CostRecord, Running, Store, StoreError, Take, Totals};
use crate::keys::KeyRecord;
use crate::traces::Span;

/// Wraps a store: one span per call, named `store <operation>`, with
/// `db.system.name` and `db.operation.name`; failures mark the span.
pub struct TracedStore(pub Arc<dyn Store>);

impl TracedStore {
    fn span(&self, operation: &'static str) -> Span {
        let span = Span::child(format!("store {operation}"), SpanKind::Client);
        span.set(
            "db.system.name",
            match self.0.kind() {
                "dynamodb" => "aws.dynamodb",
                other => other,
            },
        );
        span.set("db.operation.name", operation);
        span
    }

    async fn traced<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.span(operation).within("store_error", call).await
    }
}

#[async_trait]
impl Store for TracedStore {
    fn kind(&self) -> &'static str {
        self.0.kind()
    }

    async fn take(&self, key: &str, cells: &[Cell], now_us: u64) -> Result<Take, StoreError> {
        self.traced("take", self.0.take(key, cells, now_us)).await
    }

    async fn adjust(
        &self,
        key: &str,
        cell: usize,
        capacity: u64,
        units: i64,
    ) -> Result<(), StoreError> {
        self.traced("adjust", self.0.adjust(key, cell, capacity, units))
            .await
    }

    async fn add_cost(&self, record: &CostRecord) -> Result<Running, StoreError> {
        self.traced("add_cost", self.0.add_cost(record)).await
    }

    async fn claim_alert(
        &self,
        scope: &str,
        tier_usd: u64,
        claimant: &str,
    ) -> Result<bool, StoreError> {
        self.traced("claim_alert", self.0.claim_alert(scope, tier_usd, claimant))
            .await
    }

    async fn totals(&self, days: &[String]) -> Result<(Totals, Vec<(String, Totals)>), StoreError> {
        self.traced("totals", self.0.totals(days)).await
    }

    async fn tenant_totals(
        &self,
        tenant: &str,
        periods: &[String],
    ) -> Result<Vec<(String, Totals)>, StoreError> {
        self.traced("tenant_totals", self.0.tenant_totals(tenant, periods))
            .await
    }

    async fn put_key(&self, key: &KeyRecord, create: bool) -> Result<bool, StoreError> {
        self.traced("put_key", self.0.put_key(key, create)).await
    }

    async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.traced("get_key", self.0.get_key(id)).await
    }

    async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.traced("list_keys", self.0.list_keys()).await
    }

    async fn put_response(
        &self,
        tenant: &str,
        id: &str,
        doc: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        self.traced(
            "put_response",
            self.0.put_response(tenant, id, doc, expires_at),
        )
        .await
    }

    async fn get_response(&self, tenant: &str, id: &str) -> Result<Option<String>, StoreError> {
        self.traced("get_response", self.0.get_response(tenant, id))
            .await
    }

    async fn delete_response(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        self.traced("delete_response", self.0.delete_response(tenant, id))
            .await
    }
}
