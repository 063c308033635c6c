//! CloudWatch Embedded Metric Format lines: one per request (namespace
//! `LlmGateway`: every metric by `[Stack]`, the main ones by `[Stack,
//! Provider]`, requests, tokens and cost by `[Stack, Provider, Model]`) and
//! one per alert tier crossed (`[Stack, Scope]`). Lambda ships stdout to CloudWatch Logs, which turns them into
//! metrics the template's dashboard and alarms use.

use serde_json::{Map, Value, json};

use super::Observation;
use crate::account::CacheStatus;
use crate::pricing::Cost;

/// The namespace of every metric.
pub const NAMESPACE: &str = "LlmGateway";

/// The EMF line of one request.
pub fn request_line(stack: &str, provider: &str, model: &str, o: &Observation<'_>) -> Value {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let mut metrics = vec![
        ("Requests", "Count", json!(1)),
        ("ServerErrors", "Count", json!(u8::from(o.status >= 500))),
        (
            "ClientErrors",
            "Count",
            json!(u8::from((400..500).contains(&o.status) && o.status != 429)),
        ),
        ("Throttles", "Count", json!(u8::from(o.status == 429))),
        ("LatencyMs", "Milliseconds", json!(ms(o.latency))),
        ("OverheadMs", "Milliseconds", json!(ms(o.overhead))),
        ("InputTokens", "Count", json!(o.input_tokens)),
        ("OutputTokens", "Count", json!(o.output_tokens)),
        ("CostUsd", "None", json!(o.cost.map_or(0.0, Cost::usd))),
        (
            "CacheHits",
            "Count",
            json!(u8::from(o.cache == CacheStatus::Hit)),
        ),
        (
            "CacheMisses",
            "Count",
            json!(u8::from(o.cache == CacheStatus::Miss)),
        ),
    ];
    if let Some(ttft) = o.ttft {
        metrics.push(("TimeToFirstTokenMs", "Milliseconds", json!(ms(ttft))));
    }
    // Every metric per stack; the ones worth splitting per provider and,
    // fewer still, per model (each dimension value is a custom metric that
    // CloudWatch bills monthly).
    let all: Vec<Value> = metrics
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
        .collect();
    let pick = |names: &[&str]| -> Vec<Value> {
        metrics
            .iter()
            .filter(|(name, _, _)| names.contains(name))
            .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
            .collect()
    };
    let by_provider = pick(&[
        "Requests",
        "ServerErrors",
        "LatencyMs",
        "InputTokens",
        "OutputTokens",
        "CostUsd",
    ]);
    let by_model = pick(&["Requests", "InputTokens", "OutputTokens", "CostUsd"]);
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": crate::clock::unix_millis(),
            "CloudWatchMetrics": [
                {"Namespace": NAMESPACE, "Dimensions": [["Stack"]], "Metrics": all},
                {"Namespace": NAMESPACE, "Dimensions": [["Stack", "Provider"]], "Metrics": by_provider},
                {"Namespace": NAMESPACE, "Dimensions": [["Stack", "Provider", "Model"]], "Metrics": by_model},
            ],
        }),
    );
    line.insert("Stack".into(), json!(stack));
    line.insert("Provider".into(), json!(provider));
    line.insert("Model".into(), json!(model));
    for (name, _, value) in metrics {
        line.insert(name.into(), value);
    }
    line.insert("status".into(), json!(o.status));
    Value::Object(line)
}

/// The EMF line of an alert tier crossed: `CostAlertTier` = the tier in
/// USD, dimension `Scope` = `day` or `overall`.
pub fn alert_line(stack: &str, scope: &str, tier: u64, total: Cost) -> Value {
    let kind = if scope == "overall" { "overall" } else { "day" };
    json!({
        "_aws": {
            "Timestamp": crate::clock::unix_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Stack", "Scope"]],
                "Metrics": [{"Name": "CostAlertTier", "Unit": "None"}],
            }],
        },
        "Stack": stack,
        "Scope": kind,
        "CostAlertTier": tier,
        "period": scope,
        "total_usd": total.to_string(),
    })
}

/// Units CloudWatch accepts.
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Checks a line against the EMF specification: the `_aws` metadata
/// (millisecond timestamp, 1–255-character namespace, dimension sets of at
/// most 30 names, at most 100 metrics with valid units), and every
/// dimension a string member and every metric a number (or at most 100
/// numbers) at the top level.
pub fn validate(line: &Value) -> Result<(), String> {
    let root = line.as_object().ok_or("not a JSON object")?;
    let aws = root
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or("no _aws object")?;
    aws.get("Timestamp")
        .and_then(Value::as_u64)
        .filter(|t| *t > 1_000_000_000_000)
        .ok_or("_aws.Timestamp is not a millisecond epoch time")?;
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .ok_or("no _aws.CloudWatchMetrics array")?;
    for directive in directives {
        let namespace = directive
            .get("Namespace")
            .and_then(Value::as_str)
            .ok_or("a directive has no Namespace")?;
        if namespace.is_empty() || namespace.len() > 255 {
            return Err(format!("namespace '{namespace}' is not 1–255 characters"));
        }
        let sets = directive
            .get("Dimensions")
            .and_then(Value::as_array)
            .ok_or("a directive has no Dimensions")?;
        for set in sets {
            let names = set.as_array().ok_or("a dimension set is not an array")?;
            if names.len() > 30 {
                return Err("a dimension set has more than 30 names".into());
            }
            for name in names {
                let name = name.as_str().ok_or("a dimension name is not a string")?;
                let value = root.get(name).and_then(Value::as_str);
                if value.is_none_or(|v| v.is_empty() || v.len() > 1024) {
                    return Err(format!(
                        "dimension {name} is not a 1–1024-character string member"
                    ));
                }
            }
        }
        let metrics = directive
            .get("Metrics")
            .and_then(Value::as_array)
            .ok_or("a directive has no Metrics")?;
        if metrics.len() > 100 {
            return Err("more than 100 metrics".into());
        }
        for metric in metrics {
            let name = metric
                .get("Name")
                .and_then(Value::as_str)
                .ok_or("a metric has no Name")?;
            if let Some(unit) = metric.get("Unit") {
                let unit = unit.as_str().unwrap_or_default();
                if !UNITS.contains(&unit) {
                    return Err(format!("metric {name} has the unknown unit '{unit}'"));
                }
            }
            let ok = match root.get(name) {
                Some(Value::Number(_)) => true,
                Some(Value::Array(values)) => {
                    values.len() <= 100 && values.iter().all(Value::is_number)
                }
                _ => false,
            };
            if !ok {
                return Err(format!("metric {name} has no numeric value"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn request_and_alert_lines_follow_the_specification() {
        let o = Observation {
            status: 200,
            provider: Some("openai"),
            model: Some("gpt-5.4-mini"),
            latency: Duration::from_millis(120),
            overhead: Duration::from_micros(300),
            ttft: Some(Duration::from_millis(40)),
            input_tokens: 12,
            output_tokens: 30,
            cost: Some(Cost(1_234_000)),
            cache: CacheStatus::Miss,
        };
        let line = request_line("prod", "openai", "gpt-5.4-mini", &o);
        validate(&line).expect("valid");
        assert_eq!(line["Stack"], "prod");
        assert_eq!(line["CacheMisses"], 1);
        assert_eq!(line["TimeToFirstTokenMs"], 40.0);
        validate(&alert_line(
            "prod",
            "day:2026-12-01",
            50,
            Cost(50 * Cost::PER_USD),
        ))
        .expect("valid");
        let mut broken = line.clone();
        broken["Stack"] = json!("");
        assert!(validate(&broken).is_err());
        let mut broken = line;
        broken["LatencyMs"] = json!("slow");
        assert!(validate(&broken).is_err());
    }
}
