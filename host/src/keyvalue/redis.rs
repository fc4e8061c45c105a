//! The Redis (or Valkey) backend for replicas. Every operation that reads
//! and then writes is one server-side script, so replicas never interleave
//! inside it; the store's size is kept in one counter beside the data,
//! changed by the same scripts.
//!
//! Layout under the deployment's prefix `P` (`--store-prefix`):
//! `P` + `kv:` + key holds the guest's key; `P` + `meta:bytes` the bytes of
//! keys and values held. Nothing else is touched, so deployments with
//! different prefixes share one database safely (Spin's Redis backend, by
//! contrast, ignores the store name and lists with `KEYS *`).

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::backend::{Backend, BackendError, BackendFuture, KeyPage, Swap};

/// Keys `SCAN` is asked for per round trip, and the most one page returns.
const SCAN_COUNT: usize = 1000;
/// Most requests in flight on the multiplexed connection at once; more wait.
const MAX_IN_FLIGHT: usize = 512;

/// `KEYS[1]` the data key, `KEYS[2]` the size counter; `ARGV[1]` the value,
/// `ARGV[2]` the size limit, `ARGV[3]` the guest key's length. A write that
/// does not grow the store always passes, so a full store can be cleaned.
const SET: &str = r#"
local key_len = tonumber(ARGV[3])
local old = 0
if redis.call('EXISTS', KEYS[1]) == 1 then old = key_len + redis.call('STRLEN', KEYS[1]) end
local new = key_len + string.len(ARGV[1])
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if new > old and used - old + new > tonumber(ARGV[2]) then
  return redis.error_reply('FULL the store is full')
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('INCRBY', KEYS[2], new - old)
return 1
"#;

/// As [`SET`], only if the value is still the expected one: `ARGV[4]` is
/// `1` when a value was expected (in `ARGV[5]`), `0` when none was. Returns
/// `{'1'}` when swapped, `{'0'}` or `{'0', current}` when not.
const COMPARE_AND_SWAP: &str = r#"
local current = redis.call('GET', KEYS[1])
if ARGV[4] == '1' then
  if current ~= ARGV[5] then
    if current then return {'0', current} end
    return {'0'}
  end
elseif current then
  return {'0', current}
end
local key_len = tonumber(ARGV[3])
local old = 0
if current then old = key_len + string.len(current) end
local new = key_len + string.len(ARGV[1])
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if new > old and used - old + new > tonumber(ARGV[2]) then
  return redis.error_reply('FULL the store is full')
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('INCRBY', KEYS[2], new - old)
return {'1'}
"#;

/// `ARGV[1]` the guest key's length.
const DELETE: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then
  local freed = tonumber(ARGV[1]) + redis.call('STRLEN', KEYS[1])
  redis.call('DEL', KEYS[1])
  redis.call('DECRBY', KEYS[2], freed)
end
return 1
"#;

/// `INCRBY`, with the size counter kept; `ARGV[1]` the delta, `ARGV[2]` the
/// guest key's length, `ARGV[3]` the size limit (a new counter must fit:
/// per-client rate-limit counters would otherwise grow a flooded store
/// without bound). Returns the counter as text: Lua numbers are doubles and
/// would round counters past 2^53.
const INCREMENT: &str = r#"
local key_len = tonumber(ARGV[2])
local old = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  old = key_len + redis.call('STRLEN', KEYS[1])
elseif ARGV[1] == '0' then
  return '0'
else
  local used = tonumber(redis.call('GET', KEYS[2]) or '0')
  if used + key_len + string.len(ARGV[1]) > tonumber(ARGV[3]) then
    return redis.error_reply('FULL the store is full')
  end
end
redis.call('INCRBY', KEYS[1], ARGV[1])
local value = redis.call('GET', KEYS[1])
redis.call('INCRBY', KEYS[2], key_len + string.len(value) - old)
return value
"#;

#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    data_prefix: String,
    size_key: String,
    max_bytes: u64,
    /// What to call this store in messages: its URL without a password.
    shown: String,
}

/// How long Redis has to connect and to answer one command.
#[derive(Debug, Clone, Copy)]
pub struct RedisTimeouts {
    pub connect: Duration,
    pub response: Duration,
}

impl RedisStore {
    /// Connects (failing if Redis cannot be reached now, so a wrong URL
    /// stops start-up); afterwards the connection manager reconnects by
    /// itself whenever Redis comes back.
    pub async fn connect(
        url: &url::Url,
        password: Option<&str>,
        prefix: &str,
        max_bytes: u64,
        timeouts: RedisTimeouts,
        shown: String,
    ) -> Result<Self, BackendError> {
        let mut url = url.clone();
        if let (Some(password), None) = (password, url.password()) {
            url.set_password(Some(password))
                .map_err(|()| BackendError::Storage(format!("{shown}: cannot carry a password")))?;
        }
        let client = redis::Client::open(url.as_str())
            .map_err(|err| BackendError::Storage(format!("{shown}: {}", describe(&err))))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeouts.connect))
            .set_response_timeout(Some(timeouts.response))
            .set_concurrency_limit(MAX_IN_FLIGHT)
            .set_max_delay(Duration::from_secs(2));
        let connection = tokio::time::timeout(
            timeouts.connect + timeouts.response,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| BackendError::Unavailable(format!("{shown}: no answer")))?
        .map_err(|err| classify(&shown, err))?;
        let store = RedisStore {
            connection,
            data_prefix: format!("{prefix}kv:"),
            size_key: format!("{prefix}meta:bytes"),
            max_bytes,
            shown,
        };
        store.ping().await?;
        Ok(store)
    }

    async fn ping(&self) -> Result<(), BackendError> {
        let mut connection = self.connection.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map(drop)
            .map_err(|err| classify(&self.shown, err))
    }

    fn data_key(&self, key: &str) -> String {
        format!("{}{key}", self.data_prefix)
    }

    /// Runs `script` on `key` with `args`; errors classified.
    fn script<T: redis::FromRedisValue + Send + 'static>(
        &self,
        source: &'static str,
        key: &str,
        args: Vec<Vec<u8>>,
    ) -> BackendFuture<T> {
        let mut connection = self.connection.clone();
        let keys = [self.data_key(key), self.size_key.clone()];
        let shown = self.shown.clone();
        let guest_key = key.to_string();
        let limit = self.max_bytes;
        Box::pin(async move {
            let script = redis::Script::new(source);
            let mut invocation = script.prepare_invoke();
            invocation.key(&keys[0]).key(&keys[1]);
            for arg in &args {
                invocation.arg(arg.as_slice());
            }
            invocation
                .invoke_async(&mut connection)
                .await
                .map_err(|err| classify_script(&shown, &guest_key, limit, err))
        })
    }
}

fn describe(err: &redis::RedisError) -> String {
    // A RedisError's text can include the URL it was given; only its kind
    // and detail are shown.
    match err.detail() {
        Some(detail) => format!("{:?}: {detail}", err.kind()),
        None => format!("{:?}", err.kind()),
    }
}

fn classify(shown: &str, err: redis::RedisError) -> BackendError {
    let message = format!("{shown}: {}", describe(&err));
    if err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
    {
        BackendError::Unavailable(message)
    } else {
        BackendError::Storage(message)
    }
}

fn classify_script(shown: &str, key: &str, limit: u64, err: redis::RedisError) -> BackendError {
    let detail = err.detail().unwrap_or_default().to_ascii_lowercase();
    match err.code() {
        Some("FULL") => BackendError::Full { limit },
        _ if detail.contains("overflow") => BackendError::Overflow { key: key.into() },
        _ if detail.contains("not an integer") => BackendError::NotACounter { key: key.into() },
        _ => classify(shown, err),
    }
}

impl Backend for RedisStore {
    fn get(&self, key: String) -> BackendFuture<Option<Vec<u8>>> {
        let mut connection = self.connection.clone();
        let key = self.data_key(&key);
        let shown = self.shown.clone();
        Box::pin(async move {
            redis::cmd("GET")
                .arg(&key)
                .query_async(&mut connection)
                .await
                .map_err(|err| classify(&shown, err))
        })
    }

    fn set(&self, key: String, value: Vec<u8>) -> BackendFuture<()> {
        let args = vec![
            value,
            self.max_bytes.to_string().into(),
            key.len().to_string().into(),
        ];
        let call = self.script::<i64>(SET, &key, args);
        Box::pin(async move { call.await.map(drop) })
    }

    fn delete(&self, key: String) -> BackendFuture<()> {
        let call = self.script::<i64>(DELETE, &key, vec![key.len().to_string().into()]);
        Box::pin(async move { call.await.map(drop) })
    }

    fn list_keys(&self, cursor: Option<String>) -> BackendFuture<KeyPage> {
        let mut connection = self.connection.clone();
        let pattern = format!("{}*", glob_escape(&self.data_prefix));
        let prefix_len = self.data_prefix.len();
        let shown = self.shown.clone();
        Box::pin(async move {
            let mut cursor: u64 = match cursor {
                None => 0,
                Some(text) => text.parse().map_err(|_| {
                    BackendError::Storage(format!("{shown}: not a listing cursor: {text:?}"))
                })?,
            };
            let mut keys = Vec::new();
            // SCAN may answer a round with no keys yet more to come; a page
            // the guest sees is empty only when the listing is over.
            loop {
                let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(SCAN_COUNT)
                    .query_async(&mut connection)
                    .await
                    .map_err(|err| classify(&shown, err))?;
                keys.extend(batch.into_iter().map(|key| key[prefix_len..].to_string()));
                cursor = next;
                if cursor == 0 || !keys.is_empty() {
                    break;
                }
            }
            Ok(KeyPage {
                keys,
                cursor: (cursor != 0).then(|| cursor.to_string()),
            })
        })
    }

    fn increment(&self, key: String, delta: i64) -> BackendFuture<i64> {
        let args = vec![
            delta.to_string().into(),
            key.len().to_string().into(),
            self.max_bytes.to_string().into(),
        ];
        let call = self.script::<String>(INCREMENT, &key, args);
        Box::pin(async move {
            let text = call.await?;
            text.parse()
                .map_err(|_| BackendError::NotACounter { key: key.clone() })
        })
    }

    fn compare_and_swap(
        &self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> BackendFuture<Swap> {
        let (flag, expected) = match expected {
            Some(value) => (b"1".to_vec(), value),
            None => (b"0".to_vec(), Vec::new()),
        };
        let args = vec![
            new,
            self.max_bytes.to_string().into(),
            key.len().to_string().into(),
            flag,
            expected,
        ];
        let call = self.script::<Vec<Vec<u8>>>(COMPARE_AND_SWAP, &key, args);
        Box::pin(async move {
            let mut reply = call.await?.into_iter();
            match reply.next().as_deref() {
                Some(b"1") => Ok(Swap::Done),
                _ => Ok(Swap::Conflict(reply.next())),
            }
        })
    }
}

/// Escapes `SCAN MATCH`'s glob characters, so a prefix is taken literally.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_matched_literally() {
        assert_eq!(glob_escape("app:*[x]?\\"), "app:\\*\\[x\\]\\?\\\\");
        assert_eq!(glob_escape("calplanebot:kv:"), "calplanebot:kv:");
    }
}
