//! One request through the guest: a fresh store and instance from the
//! current pre-instantiated component, inside the sandbox limits.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpView};

use super::engine::Limits;
use super::limits::InstanceLimiter;
use super::run_clock::RunClock;
use super::state::GuestState;
use crate::component::GuestSlot;
use crate::config::ConfigSource;
use crate::guest_log::{GuestLog, Stream};
use crate::keyvalue::Backend;
use crate::outbound::{Allowed, OutboundPolicy};

/// Epoch ticks (of `engine::EPOCH_TICK`) between checks of a running
/// guest's elapsed time.
const CHECK_EVERY_TICKS: u64 = 5;

/// Variables the host adds to the guest's environment.
#[derive(Clone)]
pub struct HostEnv {
    pub boot_id: String,
    pub scheduler_token: String,
}

/// Why a guest instance was stopped, for the log.
#[derive(Debug, thiserror::Error)]
#[error("wall-clock limit of {0:?} exceeded")]
struct TimeLimitExceeded(std::time::Duration);

pub struct Runtime {
    pub slot: Arc<GuestSlot>,
    pub config: Arc<ConfigSource>,
    pub backend: Arc<dyn Backend>,
    pub extra_allowed: Vec<Allowed>,
    pub limits: Limits,
    pub host_env: HostEnv,
    permits: Arc<Semaphore>,
    /// Every running guest task, so shutdown can wait for them.
    pub tasks: TaskTracker,
}

pub type HostResponse = hyper::Response<HyperOutgoingBody>;

impl Runtime {
    pub fn new(
        slot: Arc<GuestSlot>,
        config: Arc<ConfigSource>,
        backend: Arc<dyn Backend>,
        extra_allowed: Vec<Allowed>,
        limits: Limits,
        host_env: HostEnv,
    ) -> Self {
        Runtime {
            permits: Arc::new(Semaphore::new(limits.max_instances as usize)),
            slot,
            config,
            backend,
            extra_allowed,
            limits,
            host_env,
            tasks: TaskTracker::new(),
        }
    }

    /// Answers `request` with the guest. Never fails: every failure is a
    /// 5xx response and a log line with the cause.
    pub async fn handle<B>(&self, request: hyper::Request<B>, scheme: Scheme) -> HostResponse
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        // The common case, a free slot, needs no timer.
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => Ok(permit),
            Err(_) => tokio::time::timeout(
                self.limits.request_timeout,
                self.permits.clone().acquire_owned(),
            )
            .await
            .map_err(drop)
            .and_then(|acquired| acquired.map_err(drop)),
        };
        let permit = match permit {
            Ok(permit) => permit,
            Err(()) => {
                tracing::warn!(
                    "no guest instance free within the request time limit (--max-instances)"
                );
                let mut busy = error_response(
                    503,
                    "SERVICE_UNAVAILABLE",
                    "The service is at capacity; retry shortly",
                );
                busy.headers_mut().insert(
                    hyper::header::RETRY_AFTER,
                    hyper::header::HeaderValue::from_static("1"),
                );
                return busy;
            }
        };
        let guest = self.slot.current();
        let mut run = Lease {
            store: self.new_store(&guest.pre),
            _permit: permit,
        };
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let clock = run.store.data().clock.clone();
        let prepared = (|| -> wasmtime::Result<_> {
            let mut http = run.store.data_mut().http();
            let req = http.new_incoming_request(scheme, request)?;
            let out = run
                .store
                .data_mut()
                .http()
                .new_response_outparam_from_callback(move |response| {
                    clock.mark_head_sent();
                    let response = response
                        .map(|response| response.map(|body| AnsweredWhenDone::wrap(body, clock)));
                    let _ = sender.send(response);
                })?;
            Ok((req, out))
        })();
        let (req, out) = match prepared {
            Ok(pair) => pair,
            Err(err) => {
                tracing::warn!("request not passed to the guest: {err:#}");
                return error_response(400, "BAD_REQUEST", "The request could not be read");
            }
        };
        let version = guest.short_digest().to_string();
        let task = self.tasks.spawn(async move {
            let clock = run.store.data().clock.clone();
            let call = async {
                let instantiating = Instant::now();
                let proxy = guest.pre.instantiate_async(&mut run.store).await?;
                crate::metrics::get().instantiated(instantiating.elapsed());
                let _running = Running::start();
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut run.store, req, out)
                    .await
            };
            let outcome = within_limits(&clock, call).await;
            let data = run.store.data();
            let took = clock.started().elapsed();
            let peak_mib = data.limiter.memory_peak as f64 / (1024.0 * 1024.0);
            // Every run says its peak memory; the long ones (a sync) where
            // an operator sees them without DEBUG.
            if took >= LONG_RUN {
                tracing::info!(component = %version, "guest run finished in {took:.1?}, peak memory {peak_mib:.1} MiB");
            } else {
                tracing::debug!(component = %version, "guest run finished in {took:.1?}, peak memory {peak_mib:.1} MiB");
            }
            match outcome {
                Ok(()) if !clock.head_sent() => {
                    tracing::error!(component = %version, "guest finished without sending a response")
                }
                Ok(()) => {}
                Err(err) => {
                    let cause = describe_failure(&err, &data.limiter);
                    tracing::error!(component = %version, "guest failed: {cause}");
                }
            }
            // The instance goes back to the pool before its permit is
            // released (`Lease`'s field order).
            drop(run);
        });
        let abort = task.abort_handle();
        match tokio::time::timeout(self.limits.request_timeout, receiver).await {
            Ok(Ok(Ok(response))) => response,
            Ok(Ok(Err(code))) => {
                tracing::error!("guest answered with an error instead of a response: {code:?}");
                error_response(
                    500,
                    "INTERNAL_ERROR",
                    "The service failed to handle this request",
                )
            }
            // The guest dropped its response (or failed, which its task
            // logs): the client is answered now, not when the guest stops.
            Ok(Err(_)) => error_response(
                500,
                "INTERNAL_ERROR",
                "The service failed to handle this request",
            ),
            Err(_) => {
                abort.abort();
                tracing::error!(
                    "guest failed: no response within {:?}",
                    self.limits.request_timeout
                );
                error_response(500, "INTERNAL_ERROR", "The service did not answer in time")
            }
        }
    }

    fn new_store(
        &self,
        pre: &wasmtime_wasi_http::p2::bindings::ProxyPre<GuestState>,
    ) -> Store<GuestState> {
        let settings = self.config.current();
        let mut wasi = WasiCtx::builder();
        for (key, value) in &settings.vars {
            wasi.env(key, value);
        }
        wasi.env(guest_env::BOOT_ID, &self.host_env.boot_id)
            .env(guest_env::SCHEDULER_TOKEN, &self.host_env.scheduler_token)
            .env(
                guest_env::REQUEST_TIMEOUT,
                self.limits.request_timeout.as_secs().max(1).to_string(),
            )
            .stdout(GuestLog(Stream::Stdout))
            .stderr(GuestLog(Stream::Stderr));
        let allowed = settings
            .service_origins
            .iter()
            .chain(&self.extra_allowed)
            .cloned()
            .collect();
        let clock = Arc::new(RunClock::start(
            self.limits.request_timeout,
            self.limits.background_timeout,
        ));
        let mut table = ResourceTable::new();
        table.set_max_capacity(self.limits.table_entries);
        let state = GuestState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table,
            outbound: OutboundPolicy::new(
                allowed,
                self.limits.outbound_timeout,
                self.limits.outbound_concurrency,
                clock.clone(),
                settings.plane_origin.clone(),
            ),
            backend: self.backend.clone(),
            store_limits: self.limits.store,
            limiter: InstanceLimiter::new(self.limits.memory_bytes),
            clock,
            settings: settings.clone(),
        };
        let mut store = Store::new(pre.engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(CHECK_EVERY_TICKS);
        store.epoch_deadline_callback(move |ctx| {
            let (limit, deadline) = ctx.data().clock.deadline();
            if Instant::now() >= deadline {
                return Err(TimeLimitExceeded(limit).into());
            }
            Ok(UpdateDeadline::Yield(CHECK_EVERY_TICKS))
        });
        store
    }
}

/// A response body that tells the run's clock when it has ended (or was
/// dropped because the client left): the request is then answered.
struct AnsweredWhenDone {
    body: HyperOutgoingBody,
    clock: Arc<RunClock>,
}

impl AnsweredWhenDone {
    fn wrap(body: HyperOutgoingBody, clock: Arc<RunClock>) -> HyperOutgoingBody {
        AnsweredWhenDone { body, clock }.boxed_unsync()
    }
}

impl Drop for AnsweredWhenDone {
    fn drop(&mut self) {
        self.clock.mark_answered();
    }
}

impl hyper::body::Body for AnsweredWhenDone {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, std::task::Poll::Ready(None | Some(Err(_)))) {
            self.clock.mark_answered();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// A guest run's store and its instance permit, dropped in this order: the
/// store returns its pool slot before the permit lets another run take one
/// (otherwise a run admitted by the permit can find the pool still full).
struct Lease {
    store: Store<GuestState>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// Runs `call` until it ends or the limit in force runs out. The epoch
/// callback stops a guest computing; this stops one waiting in the host
/// (on a socket, the store).
async fn within_limits(
    clock: &RunClock,
    call: impl Future<Output = wasmtime::Result<()>>,
) -> wasmtime::Result<()> {
    let mut call = std::pin::pin!(call);
    loop {
        let (limit, deadline) = clock.deadline();
        tokio::select! {
            outcome = call.as_mut() => return outcome,
            () = tokio::time::sleep_until(deadline.into()) => {
                if Instant::now() >= clock.deadline().1 {
                    return Err(TimeLimitExceeded(limit).into());
                }
            }
        }
    }
}

/// Names of the variables in [`HostEnv`], as the guest reads them.
pub mod guest_env {
    pub const BOOT_ID: &str = "CALPLANEBOT_BOOT_ID";
    pub const SCHEDULER_TOKEN: &str = "CALPLANEBOT_SCHEDULER_TOKEN";
    /// The request time limit in whole seconds, so the guest can keep its
    /// own deadlines inside it.
    pub const REQUEST_TIMEOUT: &str = "CALPLANEBOT_REQUEST_TIMEOUT_SECONDS";
}

fn describe_failure(err: &wasmtime::Error, limiter: &InstanceLimiter) -> String {
    if let Some(limit) = err.downcast_ref::<TimeLimitExceeded>() {
        return limit.to_string();
    }
    if limiter.memory_exceeded {
        return format!(
            "memory limit of {} MiB exceeded ({err})",
            limiter.memory_bytes / (1024 * 1024)
        );
    }
    match err.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => format!("trap: {trap} ({err:#})"),
        None => format!("{err:#}"),
    }
}

/// Counts a guest instance in `calplanebot_host_guest_instances` while it
/// lives.
struct Running;

impl Running {
    fn start() -> Self {
        crate::metrics::get().instances.inc();
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        crate::metrics::get().instances.dec();
    }
}

/// Runs at least this long are logged at INFO with their peak memory.
const LONG_RUN: std::time::Duration = std::time::Duration::from_secs(1);

/// A response from the host itself, in the API's error format.
pub fn error_response(status: u16, code: &str, message: &str) -> HostResponse {
    let body = format!(
        r#"{{"status":"error","message":"{message}","error_code":"{code}","details":{{}},"timestamp":"{}"}}"#,
        humantime::format_rfc3339_seconds(std::time::SystemTime::now())
    );
    let mut response = hyper::Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}
