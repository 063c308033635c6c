//! Provider health shared across instances through Redis (Lambda runs many
//! at once): breaker state and statistics per route, kept by atomic Lua
//! scripts on a hash per route, read through a short local cache so the
//! request path never waits on Redis. Redis failures are logged and ignored
//! (each instance then relies on its local breakers and stats).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::Script;

use super::Route;
use crate::config::BreakerConfig;
use crate::redis_client::{COMMAND_TIMEOUT, RedisHandle};

/// Records one outcome; trips or clears the shared circuit. Times come from
/// Redis (`TIME`), so instances with skewed clocks agree.
const RECORD: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local raw = redis.call('HGETALL', KEYS[1])
local h = {}
for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
local function num(name) return tonumber(h[name] or '0') end
local success = ARGV[1] == '1'
local health_failure = ARGV[2] == '1'
local requests = num('requests') + 1
local errors = num('errors')
if not success then errors = errors + 1 end
local x = 1
if success then x = 0 end
local error_ema = num('error_ema') + 0.2 * (x - num('error_ema'))
local out = {'requests', requests, 'errors', errors, 'error_ema', error_ema}
local function ema(field, sample)
  if not success or sample < 0 then return end
  local old = tonumber(h[field] or '-1')
  local v = sample
  if old >= 0 then v = old + 0.2 * (sample - old) end
  table.insert(out, field)
  table.insert(out, v)
end
ema('latency_ema', tonumber(ARGV[3]))
ema('ttft_ema', tonumber(ARGV[4]))
local win_start, win_total, win_fail = num('win_start'), num('win_total'), num('win_fail')
if now - win_start > tonumber(ARGV[5]) then win_start, win_total, win_fail = now, 0, 0 end
local consec = num('consec')
if health_failure then
  win_total, win_fail, consec = win_total + 1, win_fail + 1, consec + 1
elseif success then
  win_total, consec = win_total + 1, 0
end
local open_until = num('open_until')
if success and open_until > 0 and now >= open_until then
  open_until, win_total, win_fail = 0, 0, 0
elseif health_failure and now >= open_until then
  local rate_tripped = win_total >= tonumber(ARGV[6]) and win_fail / win_total >= tonumber(ARGV[7])
  if rate_tripped or consec >= tonumber(ARGV[8]) then open_until = now + tonumber(ARGV[9]) end
end
for _, v in ipairs({'win_start', win_start, 'win_total', win_total, 'win_fail', win_fail,
    'consec', consec, 'open_until', open_until}) do table.insert(out, v) end
redis.call('HSET', KEYS[1], unpack(out))
redis.call('PEXPIRE', KEYS[1], 86400000)
return open_until
"#;

/// Reads a route's hash with the server's clock.
const VIEW: &str = r#"
local t = redis.call('TIME')
return {tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), redis.call('HGETALL', KEYS[1])}
"#;

/// What Redis says about a route, as of `fetched`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SharedView {
    /// Until when (local clock) the shared circuit is open.
    pub open_until: Option<Instant>,
    /// Latency EMA over all instances, ms.
    pub latency_ema: Option<f64>,
    /// Time-to-first-token EMA over all instances, ms.
    pub ttft_ema: Option<f64>,
    /// Error-rate EMA over all instances.
    pub error_rate: f64,
    /// Requests counted by all instances.
    pub requests: u64,
    /// Errors counted by all instances.
    pub errors: u64,
}

#[derive(Debug)]
struct Cached {
    view: SharedView,
    fetched: Option<Instant>,
    refreshing: bool,
}

/// Shared health over Redis.
pub struct SharedHealth {
    redis: RedisHandle,
    breaker: BreakerConfig,
    cache_ttl: Duration,
    cache: Mutex<HashMap<Route, Cached>>,
    record: Script,
    view: Script,
}

fn key(route: &Route) -> String {
    format!("gw:health:{}:{}", route.provider, route.model)
}

impl SharedHealth {
    /// Shares health through `redis`, re-reading a route at most every `cache_ttl`.
    pub fn new(redis: RedisHandle, breaker: BreakerConfig, cache_ttl: Duration) -> Arc<Self> {
        Arc::new(Self {
            redis,
            breaker,
            cache_ttl,
            cache: Mutex::new(HashMap::new()),
            record: Script::new(RECORD),
            view: Script::new(VIEW),
        })
    }

    /// The cached view of a route; starts a background refresh when stale.
    pub fn view(self: &Arc<Self>, route: &Route) -> SharedView {
        let Ok(mut cache) = self.cache.lock() else {
            return SharedView::default();
        };
        let entry = cache.entry(route.clone()).or_insert(Cached {
            view: SharedView::default(),
            fetched: None,
            refreshing: false,
        });
        let stale = entry.fetched.is_none_or(|t| t.elapsed() >= self.cache_ttl);
        if stale && !entry.refreshing && self.redis.get().is_some() {
            entry.refreshing = true;
            let this = self.clone();
            let route = route.clone();
            tokio::spawn(async move { this.refresh(route).await });
        }
        entry.view.clone()
    }

    /// Whether the shared circuit of `route` is open now.
    pub fn is_open(self: &Arc<Self>, route: &Route) -> bool {
        self.view(route)
            .open_until
            .is_some_and(|t| Instant::now() < t)
    }

    /// Reads a route now (also used to warm the cache).
    pub async fn refresh(&self, route: Route) {
        let fetched = self.fetch(&route).await;
        if let Ok(mut cache) = self.cache.lock() {
            let entry = cache.entry(route).or_insert(Cached {
                view: SharedView::default(),
                fetched: None,
                refreshing: false,
            });
            entry.refreshing = false;
            if let Some(view) = fetched {
                entry.view = view;
                entry.fetched = Some(Instant::now());
            }
        }
    }

    async fn fetch(&self, route: &Route) -> Option<SharedView> {
        let mut conn = self.redis.get()?;
        let invocation = self.view.key(key(route));
        let call = invocation.invoke_async::<(i64, HashMap<String, String>)>(&mut conn);
        let (server_now, fields) = match tokio::time::timeout(COMMAND_TIMEOUT, call).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => {
                tracing::warn!(error = e.category(), "shared health read failed");
                return None;
            }
            Err(_) => {
                tracing::warn!("shared health read timed out");
                return None;
            }
        };
        let num = |name: &str| fields.get(name).and_then(|v| v.parse::<f64>().ok());
        let open_until = num("open_until")
            .filter(|until| *until as i64 > server_now)
            .map(|until| {
                Instant::now() + Duration::from_millis((until as i64 - server_now) as u64)
            });
        Some(SharedView {
            open_until,
            latency_ema: num("latency_ema"),
            ttft_ema: num("ttft_ema"),
            error_rate: num("error_ema").unwrap_or(0.0),
            requests: num("requests").unwrap_or(0.0) as u64,
            errors: num("errors").unwrap_or(0.0) as u64,
        })
    }

    /// Records an outcome in the background.
    pub fn record(
        self: &Arc<Self>,
        route: &Route,
        success: bool,
        health_failure: bool,
        latency: Option<Duration>,
        ttft: Option<Duration>,
    ) {
        let Some(mut conn) = self.redis.get() else {
            return;
        };
        let ms = |d: Option<Duration>| d.map_or(-1.0, |d| d.as_secs_f64() * 1000.0);
        let (latency, ttft) = (ms(latency), ms(ttft));
        let this = self.clone();
        let route = route.clone();
        tokio::spawn(async move {
            let b = this.breaker;
            let mut invocation = this.record.key(key(&route));
            invocation
                .arg(if success { "1" } else { "0" })
                .arg(if health_failure { "1" } else { "0" })
                .arg(latency)
                .arg(ttft)
                .arg(b.window.as_millis() as u64)
                .arg(b.min_requests)
                .arg(b.failure_rate)
                .arg(b.consecutive_failures)
                .arg(b.cooldown.as_millis() as u64);
            let call = invocation.invoke_async::<i64>(&mut conn);
            match tokio::time::timeout(COMMAND_TIMEOUT, call).await {
                Ok(Ok(open_until)) if open_until > 0 && !success => {
                    // Our own failure tripped it: see it without waiting for the cache.
                    this.refresh(route).await;
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = e.category(), "shared health write failed"),
                Err(_) => tracing::warn!("shared health write timed out"),
            }
        });
    }
}
