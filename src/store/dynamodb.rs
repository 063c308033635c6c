//! The DynamoDB store: one table, partition key `pk` and sort key `sk`
//! (both strings), every write a single atomic `UpdateItem` or conditional
//! `PutItem`:
//!
//! | pk | sk | attributes |
//! |---|---|---|
//! | `{ns}#LIMIT#{key}` | `BUCKET` | `tat_0`, `tat_1`: each bucket's GCRA time (µs) |
//! | `{ns}#COST` | `TOTAL` | `usd` (picodollars), `requests`, `prompt_tokens`, `completion_tokens`, `p#{provider}`, `m#{model}` (usd), `t#{model}` (tokens) |
//! | `{ns}#COST` | `DAY#{yyyy-mm-dd}` | the same for one UTC day, `expires_at` (TTL) |
//! | `{ns}#USAGE#{tenant}` | `TOTAL`, `MONTH#{yyyy-mm}`, `DAY#{yyyy-mm-dd}` | the same per client key |
//! | `{ns}#ALERT` | `{scope}#{tier}` | `claimed_by` (a record id), `raised_at`; written once per tier and scope |
//! | `{ns}#APPLIED` | `{record id}` | a cost record's idempotency marker, written with its `ADD`s in one transaction; `expires_at` (7 days) |
//! | `{ns}#KEY` | `{id}` | `doc`: the virtual key as JSON (its secret's SHA-256, never the secret) |
//! | `{ns}#RESP#{tenant}` | `{response id}` | `doc`: a stored Responses API response and its conversation; `expires_at` (TTL, checked on read) |
//!
//! `{ns}` is the deployment namespace (`GATEWAY_NAMESPACE`), so deployments
//! sharing a table never mix.
//!
//! A cost record is one `TransactWriteItems` (its marker and its `ADD`s), so
//! it counts exactly once however often it is retried.
//!
//! The client is created on first use (cold starts do not wait for it) from
//! the standard AWS chain; `AWS_ENDPOINT_URL_DYNAMODB` points it elsewhere.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, KeysAndAttributes,
    Put, ReturnValue, ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TransactWriteItem,
    Update,
};
use tokio::sync::OnceCell;

use crate::config::AwsSettings;
use crate::keys::KeyRecord;

use super::{Cell, CostRecord, Running, Store, StoreError, Take, Totals, slug, take_all};

/// One DynamoDB item.
type Item = HashMap<String, AttributeValue>;

/// Days a day's totals are kept (the `expires_at` TTL attribute).
const DAY_RETENTION_SECONDS: u64 = 400 * 86_400;

/// The table and a lazily built client.
pub struct DynamoStore {
    table: String,
    namespace: String,
    aws: AwsSettings,
    timeout: Duration,
    /// Bound on a cost write: longer than `timeout`, since cost writes run
    /// after the response and a write abandoned while the store still
    /// applies it would be counted again when retried.
    write_timeout: Duration,
    client: OnceCell<Client>,
    /// Last seen bucket times per key: picks the write that will apply.
    seen: Mutex<HashMap<String, Vec<Option<u64>>>>,
}

fn error<E, R>(what: &str, e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError(format!("{what}: {}", DisplayErrorContext(e)))
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<u64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse::<i128>().ok().map(|x| x.max(0) as u64),
        _ => None,
    }
}

use crate::clock::unix_seconds;

impl DynamoStore {
    /// A store on `table`; each call is bounded by `timeout`.
    pub fn new(table: String, timeout: Duration, aws: AwsSettings) -> Self {
        Self {
            table,
            namespace: "gateway".to_owned(),
            aws,
            timeout,
            write_timeout: timeout,
            client: OnceCell::new(),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps this deployment's items under `namespace` (default `gateway`).
    #[must_use]
    pub fn with_namespace(mut self, namespace: &str) -> Self {
        namespace.clone_into(&mut self.namespace);
        self
    }

    /// The partition key `{ns}#{name}`.
    fn pk(&self, name: &str) -> String {
        format!("{}#{name}", self.namespace)
    }

    /// Bounds cost writes by `write_timeout` instead of the request-path
    /// timeout.
    #[must_use]
    pub fn with_write_timeout(mut self, write_timeout: Duration) -> Self {
        self.write_timeout = write_timeout;
        self
    }

    async fn client(&self) -> &Client {
        self.client
            .get_or_init(|| async {
                let config = self.aws.sdk_config().await;
                let dynamo = aws_sdk_dynamodb::config::Builder::from(&config)
                    .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
                    .build();
                Client::from_conf(dynamo)
            })
            .await
    }

    async fn bounded<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        bounded_by(self.timeout, what, call).await
    }

    /// Creates the table (on-demand, TTL on `expires_at`) unless it exists:
    /// for local work and tests; production tables come from the SAM template.
    pub async fn create_table_if_missing(&self) -> Result<(), StoreError> {
        let client = self.client().await;
        if client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let created = client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash).map_err(|e| StoreError(e.to_string()))?)
            .key_schema(key("sk", KeyType::Range).map_err(|e| StoreError(e.to_string()))?)
            .attribute_definitions(attribute("pk").map_err(|e| StoreError(e.to_string()))?)
            .attribute_definitions(attribute("sk").map_err(|e| StoreError(e.to_string()))?)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) => {}
            Err(e) => return Err(error("create table", e)),
        }
        let ttl = aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
            .attribute_name("expires_at")
            .enabled(true)
            .build()
            .map_err(|e| StoreError(e.to_string()))?;
        // Already enabled is fine.
        let _ = client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await;
        Ok(())
    }

    /// One conditional write taking from every cell, shaped by the cells'
    /// assumed state: an idle bucket (time ≤ now) is set to now + increment,
    /// a busy one is advanced by the increment if it stays within the
    /// window. `Ok(Err(old))` when the assumption or the limit failed.
    async fn try_take(
        &self,
        key: &str,
        cells: &[Cell],
        assumed: &[Option<u64>],
        now: u64,
    ) -> Result<Result<Vec<Option<u64>>, Vec<Option<u64>>>, StoreError> {
        let mut sets = Vec::new();
        let mut conditions = Vec::new();
        let mut update = self
            .client()
            .await
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&self.pk(&format!("LIMIT#{key}"))))
            .key("sk", s("BUCKET"))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (i, (cell, tat)) in cells.iter().zip(assumed).enumerate() {
            update = update.expression_attribute_names(format!("#c{i}"), format!("tat_{i}"));
            let inc = cell.increment();
            if tat.is_none_or(|t| t <= now) {
                sets.push(format!("#c{i} = :n{i}"));
                conditions.push(format!("(attribute_not_exists(#c{i}) OR #c{i} <= :now)"));
                update = update.expression_attribute_values(format!(":n{i}"), n(now + inc));
            } else {
                sets.push(format!("#c{i} = #c{i} + :i{i}"));
                conditions.push(format!("(#c{i} > :now AND #c{i} <= :m{i})"));
                update = update
                    .expression_attribute_values(format!(":i{i}"), n(inc))
                    .expression_attribute_values(
                        format!(":m{i}"),
                        n((now + super::WINDOW_US).saturating_sub(inc)),
                    );
            }
        }
        let read = |item: Option<&HashMap<String, AttributeValue>>| -> Vec<Option<u64>> {
            (0..cells.len())
                .map(|i| item.and_then(|it| number(it, &format!("tat_{i}"))))
                .collect()
        };
        let result = update
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression(conditions.join(" AND "))
            .send()
            .await;
        match result {
            Ok(out) => Ok(Ok(read(out.attributes()))),
            Err(e) => match e.as_service_error() {
                Some(service) if service.is_conditional_check_failed_exception() => {
                    let old = match service {
                        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => read(c.item()),
                        _ => vec![None; cells.len()],
                    };
                    Ok(Err(old))
                }
                _ => Err(error("take", e)),
            },
        }
    }

    /// One total's `ADD` of a record, as a transaction item.
    fn add_item(
        &self,
        pk: &str,
        sk: &str,
        record: &CostRecord,
        ttl: Option<u64>,
    ) -> Result<TransactWriteItem, StoreError> {
        let tokens = record
            .prompt_tokens
            .saturating_add(record.completion_tokens);
        let mut expression = "ADD usd :c, requests :one, #p :c, #m :c, prompt_tokens :pt, completion_tokens :ct, #t :tk, estimated_requests :e".to_owned();
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .expression_attribute_names("#p", format!("p#{}", slug(&record.provider)))
            .expression_attribute_names("#m", format!("m#{}", slug(&record.model)))
            .expression_attribute_names("#t", format!("t#{}", slug(&record.model)))
            .expression_attribute_values(":c", n(record.picodollars))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":pt", n(record.prompt_tokens))
            .expression_attribute_values(":ct", n(record.completion_tokens))
            .expression_attribute_values(":tk", n(tokens))
            .expression_attribute_values(":e", n(u64::from(record.estimated)));
        if let Some(ttl) = ttl {
            expression.push_str(" SET expires_at = if_not_exists(expires_at, :ttl)");
            update = update.expression_attribute_values(":ttl", n(ttl));
        }
        let update = update
            .update_expression(expression)
            .build()
            .map_err(|e| StoreError(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The record's idempotency marker: written in the same transaction as
    /// its `ADD`s, only if absent, so a retried transaction that already
    /// landed changes nothing.
    fn applied_item(&self, record: &CostRecord) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .item("pk", s(&self.pk("APPLIED")))
            .item("sk", s(&record.record_id))
            .item("request_id", s(&record.request_id))
            .item("expires_at", n(unix_seconds() + APPLIED_RETENTION_SECONDS))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Items by `(pk, sk)`, read strongly consistent in one
    /// `BatchGetItem` (at most 100 keys), within `limit`; each found item
    /// is returned with its key, missing ones are left out.
    async fn batch_get(
        &self,
        keys: &[(String, String)],
        what: &str,
        limit: Duration,
    ) -> Result<Vec<((String, String), Item)>, StoreError> {
        let mut request = KeysAndAttributes::builder().consistent_read(true);
        for (pk, sk) in keys.iter().take(100) {
            request = request.keys(HashMap::from([
                ("pk".to_owned(), s(pk)),
                ("sk".to_owned(), s(sk)),
            ]));
        }
        let request = request.build().map_err(|e| StoreError(e.to_string()))?;
        let table = self.table.clone();
        let call = async {
            self.client()
                .await
                .batch_get_item()
                .request_items(table.clone(), request)
                .send()
                .await
                .map_err(|e| error(what, e))
        };
        let out = bounded_by(limit, what, call).await?;
        let text = |item: &Item, name: &str| match item.get(name) {
            Some(AttributeValue::S(v)) => Some(v.clone()),
            _ => None,
        };
        Ok(out
            .responses()
            .and_then(|r| r.get(&table))
            .into_iter()
            .flatten()
            .filter_map(|item| Some(((text(item, "pk")?, text(item, "sk")?), item.clone())))
            .collect())
    }

    /// The `usd` of each item, read strongly consistent (0 when absent).
    async fn read_usd(&self, keys: &[(String, String)]) -> Result<Vec<u64>, StoreError> {
        let found = self
            .batch_get(keys, "read totals", self.write_timeout)
            .await?;
        Ok(keys
            .iter()
            .map(|key| {
                found
                    .iter()
                    .find(|(k, _)| k == key)
                    .and_then(|(_, item)| number(item, "usd"))
                    .unwrap_or(0)
            })
            .collect())
    }
}

/// How long a record's idempotency marker is kept: far past any retry.
const APPLIED_RETENTION_SECONDS: u64 = 7 * 86_400;

/// Whether a failed transaction failed only because its idempotency
/// marker exists: the record was applied by an earlier try.
fn already_applied(e: &SdkError<TransactWriteItemsError, HttpResponse>) -> bool {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(t)) => {
            let reasons = t.cancellation_reasons();
            reasons
                .first()
                .is_some_and(|r| r.code() == Some("ConditionalCheckFailed"))
                && reasons
                    .iter()
                    .skip(1)
                    .all(|r| matches!(r.code(), None | Some("None")))
        }
        _ => false,
    }
}

/// `call`, failed as "`what`: no answer" unless it ends within `limit`.
async fn bounded_by<T>(
    limit: Duration,
    what: &str,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(limit, call)
        .await
        .map_err(|_| StoreError(format!("{what}: no answer within {limit:?}")))?
}

fn totals_of(item: &HashMap<String, AttributeValue>) -> Totals {
    let mut totals = Totals {
        picodollars: number(item, "usd").unwrap_or(0),
        requests: number(item, "requests").unwrap_or(0),
        prompt_tokens: number(item, "prompt_tokens").unwrap_or(0),
        completion_tokens: number(item, "completion_tokens").unwrap_or(0),
        estimated_requests: number(item, "estimated_requests").unwrap_or(0),
        ..Totals::default()
    };
    for name in item.keys() {
        let value = number(item, name).unwrap_or(0);
        if let Some(provider) = name.strip_prefix("p#") {
            totals.by_provider.insert(provider.to_owned(), value);
        } else if let Some(model) = name.strip_prefix("m#") {
            totals.by_model.insert(model.to_owned(), value);
        } else if let Some(model) = name.strip_prefix("t#") {
            totals.tokens_by_model.insert(model.to_owned(), value);
        }
    }
    totals
}

fn key_of(item: &HashMap<String, AttributeValue>) -> Result<KeyRecord, StoreError> {
    match item.get("doc") {
        Some(AttributeValue::S(doc)) => serde_json::from_str(doc)
            .map_err(|e| StoreError(format!("stored key is not readable: {e}"))),
        _ => Err(StoreError("stored key has no doc".into())),
    }
}

#[async_trait]
impl Store for DynamoStore {
    fn kind(&self) -> &'static str {
        "dynamodb"
    }

    async fn take(&self, key: &str, cells: &[Cell], now_us: u64) -> Result<Take, StoreError> {
        let mut assumed = self
            .seen
            .lock()
            .ok()
            .and_then(|s| s.get(key).cloned())
            .unwrap_or_default();
        assumed.resize(cells.len(), None);
        // The first write usually matches; another instance moving a bucket
        // across "idle" costs one more round trip, at most two more.
        for _ in 0..3 {
            let outcome = self
                .bounded("take", self.try_take(key, cells, &assumed, now_us))
                .await?;
            let (state, granted) = match outcome {
                Ok(new) => (new, true),
                Err(old) => (old, false),
            };
            if let Ok(mut seen) = self.seen.lock() {
                seen.insert(key.to_owned(), state.clone());
            }
            if granted {
                return Ok(Take::Granted);
            }
            if let Err(denied) = take_all(cells, &state, now_us) {
                return Ok(denied);
            }
            assumed = state;
        }
        Err(StoreError(
            "take: bucket kept changing under contention".into(),
        ))
    }

    async fn adjust(
        &self,
        key: &str,
        cell: usize,
        capacity: u64,
        units: i64,
    ) -> Result<(), StoreError> {
        let step = Cell {
            capacity,
            take: units.unsigned_abs(),
        }
        .increment();
        let delta = if units >= 0 {
            i128::from(step)
        } else {
            -i128::from(step)
        };
        let call = async {
            let result = self
                .client()
                .await
                .update_item()
                .table_name(&self.table)
                .key("pk", s(&self.pk(&format!("LIMIT#{key}"))))
                .key("sk", s("BUCKET"))
                .expression_attribute_names("#c", format!("tat_{cell}"))
                .expression_attribute_values(":d", n(delta))
                .update_expression("ADD #c :d")
                .condition_expression("attribute_exists(#c)")
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                {
                    Ok(())
                }
                Err(e) => Err(error("adjust", e)),
            }
        };
        self.bounded("adjust", call).await
    }

    async fn add_cost(&self, record: &CostRecord) -> Result<Running, StoreError> {
        let ttl = unix_seconds() + DAY_RETENTION_SECONDS;
        let cost = self.pk("COST");
        let mut targets = vec![
            (cost.clone(), "TOTAL".to_owned(), None),
            (cost, format!("DAY#{}", record.day), Some(ttl)),
        ];
        if !record.tenant.is_empty() {
            let usage = self.pk(&format!("USAGE#{}", slug(&record.tenant)));
            let [total, month, day] = record.tenant_periods();
            targets.push((usage.clone(), total, None));
            targets.push((usage.clone(), month, Some(ttl)));
            targets.push((usage, day, Some(ttl)));
        }
        // One transaction: the marker and every ADD land together or not at
        // all, and a retry of one that landed (its reply lost) is refused
        // by the marker, so each record counts exactly once.
        let mut items = vec![self.applied_item(record)?];
        for (pk, sk, ttl) in &targets {
            items.push(self.add_item(pk, sk, record, *ttl)?);
        }
        let call = async {
            self.client()
                .await
                .transact_write_items()
                .set_transact_items(Some(items))
                .client_request_token(&record.record_id)
                .send()
                .await
        };
        match tokio::time::timeout(self.write_timeout, call).await {
            Err(_) => {
                return Err(StoreError(format!(
                    "add cost: no answer within {:?}",
                    self.write_timeout
                )));
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) if already_applied(&e) => {}
            Ok(Err(e)) => return Err(error("add cost", e)),
        }
        let keys: Vec<(String, String)> = targets.into_iter().map(|(pk, sk, _)| (pk, sk)).collect();
        let usd = self.read_usd(&keys).await?;
        let at = |i: usize| usd.get(i).copied().unwrap_or(0);
        Ok(Running {
            overall: at(0),
            day: at(1),
            tenant: if record.tenant.is_empty() {
                [0; 3]
            } else {
                [at(2), at(3), at(4)]
            },
        })
    }

    async fn tenant_totals(
        &self,
        tenant: &str,
        periods: &[String],
    ) -> Result<Vec<(String, Totals)>, StoreError> {
        let pk = self.pk(&format!("USAGE#{}", slug(tenant)));
        let keys: Vec<(String, String)> = periods.iter().map(|p| (pk.clone(), p.clone())).collect();
        let found = self.batch_get(&keys, "read usage", self.timeout).await?;
        Ok(keys
            .iter()
            .filter_map(|key| {
                let (_, item) = found.iter().find(|(k, _)| k == key)?;
                Some((key.1.clone(), totals_of(item)))
            })
            .collect())
    }

    async fn put_key(&self, key: &KeyRecord, create: bool) -> Result<bool, StoreError> {
        let doc = serde_json::to_string(key).map_err(|e| StoreError(e.to_string()))?;
        let condition = if create {
            "attribute_not_exists(pk)"
        } else {
            "attribute_exists(pk)"
        };
        let call = async {
            let result = self
                .client()
                .await
                .put_item()
                .table_name(&self.table)
                .item("pk", s(&self.pk("KEY")))
                .item("sk", s(&key.id))
                .item("doc", s(&doc))
                .condition_expression(condition)
                .send()
                .await;
            match result {
                Ok(_) => Ok(true),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                {
                    Ok(false)
                }
                Err(e) => Err(error("write key", e)),
            }
        };
        self.bounded("write key", call).await
    }

    async fn put_response(
        &self,
        tenant: &str,
        id: &str,
        doc: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        let call = async {
            self.client()
                .await
                .put_item()
                .table_name(&self.table)
                .item("pk", s(&self.pk(&format!("RESP#{tenant}"))))
                .item("sk", s(id))
                .item("doc", s(doc))
                .item("expires_at", n(expires_at))
                .send()
                .await
                .map_err(|e| error("write response", e))
        };
        self.bounded("write response", call).await.map(|_| ())
    }

    async fn get_response(&self, tenant: &str, id: &str) -> Result<Option<String>, StoreError> {
        let call = async {
            self.client()
                .await
                .get_item()
                .table_name(&self.table)
                .key("pk", s(&self.pk(&format!("RESP#{tenant}"))))
                .key("sk", s(id))
                .send()
                .await
                .map_err(|e| error("read response", e))
        };
        let out = self.bounded("read response", call).await?;
        // TTL deletes lazily: an expired item may still be there.
        Ok(out.item().and_then(|item| {
            let live = item
                .get("expires_at")
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .is_some_and(|t| t > unix_seconds());
            live.then(|| item.get("doc")?.as_s().ok().cloned())
                .flatten()
        }))
    }

    async fn delete_response(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let call = async {
            self.client()
                .await
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(&self.pk(&format!("RESP#{tenant}"))))
                .key("sk", s(id))
                .return_values(ReturnValue::AllOld)
                .send()
                .await
                .map_err(|e| error("delete response", e))
        };
        let out = self.bounded("delete response", call).await?;
        Ok(out.attributes().is_some_and(|a| !a.is_empty()))
    }

    async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let call = async {
            self.client()
                .await
                .get_item()
                .table_name(&self.table)
                .key("pk", s(&self.pk("KEY")))
                .key("sk", s(id))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| error("read key", e))
        };
        let out = self.bounded("read key", call).await?;
        out.item().map(key_of).transpose()
    }

    async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let mut keys = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        // Pages of up to 1 MB; a thousand pages is far past any real list.
        for _ in 0..1000 {
            let call = async {
                self.client()
                    .await
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(":pk", s(&self.pk("KEY")))
                    .set_exclusive_start_key(start.clone())
                    .send()
                    .await
                    .map_err(|e| error("list keys", e))
            };
            let out = self.bounded("list keys", call).await?;
            for item in out.items() {
                keys.push(key_of(item)?);
            }
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        Ok(keys)
    }

    async fn claim_alert(
        &self,
        scope: &str,
        tier_usd: u64,
        claimant: &str,
    ) -> Result<bool, StoreError> {
        let call = async {
            let result = self
                .client()
                .await
                .put_item()
                .table_name(&self.table)
                .item("pk", s(&self.pk("ALERT")))
                .item("sk", s(&format!("{scope}#{tier_usd}")))
                .item("claimed_by", s(claimant))
                .item("raised_at", n(unix_seconds()))
                .item("expires_at", n(unix_seconds() + DAY_RETENTION_SECONDS))
                .condition_expression("attribute_not_exists(pk)")
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            match result {
                Ok(_) => Ok(true),
                // Claimed already: by this claimant when an earlier try
                // landed but its reply was lost.
                Err(e) => match e.as_service_error() {
                    Some(PutItemError::ConditionalCheckFailedException(c)) => Ok(c
                        .item()
                        .and_then(|old| old.get("claimed_by"))
                        .is_some_and(|by| matches!(by, AttributeValue::S(v) if v == claimant))),
                    _ => Err(error("claim alert", e)),
                },
            }
        };
        self.bounded("claim alert", call).await
    }

    async fn totals(&self, days: &[String]) -> Result<(Totals, Vec<(String, Totals)>), StoreError> {
        let cost = self.pk("COST");
        let mut keys = vec![(cost.clone(), "TOTAL".to_owned())];
        keys.extend(
            days.iter()
                .take(90)
                .map(|d| (cost.clone(), format!("DAY#{d}"))),
        );
        let found = self.batch_get(&keys, "read totals", self.timeout).await?;
        let get = |sk: &str| {
            found
                .iter()
                .find(|((_, k), _)| k == sk)
                .map(|(_, item)| totals_of(item))
        };
        let overall = get("TOTAL").unwrap_or_default();
        let days = days
            .iter()
            .filter_map(|d| get(&format!("DAY#{d}")).map(|t| (d.clone(), t)))
            .collect();
        Ok((overall, days))
    }
}
