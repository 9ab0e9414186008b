//! The guarded URL fetcher: the SSRF boundary.
//!
//! Two checks keep a caller-supplied URL away from internal services. Literal IP hosts are
//! judged before each request, because the HTTP connector does not resolve them. Every host name
//! goes through [`GuardedResolver`], which hands the connector only addresses it has judged, so a
//! name cannot pass the check with one address and connect with another (DNS rebinding).
//! Redirects are followed here rather than by reqwest so that every hop passes both checks.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::{Bytes, BytesMut};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::LOCATION;
use reqwest::redirect::Policy;
use url::{Host, Url};

use crate::config::FetchSettings;
use crate::error::{Error, ErrorCode, Result};
use crate::media::address_policy::{AddressPolicy, Refusal};
use crate::redact;

/// Fetches images from http(s) URLs, refusing private, loopback, link-local and other
/// non-public addresses on every hop. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct UrlFetcher {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
    timeout: Duration,
    connect_timeout: Duration,
    max_bytes: u64,
    max_redirects: u32,
}

impl UrlFetcher {
    pub fn new(settings: &FetchSettings) -> anyhow::Result<Self> {
        anyhow::ensure!(
            settings.timeout_secs > 0,
            "fetch.timeout_secs must be positive"
        );
        anyhow::ensure!(
            settings.connect_timeout_secs > 0,
            "fetch.connect_timeout_secs must be positive"
        );
        let timeout = Duration::from_secs(settings.timeout_secs);
        let connect_timeout = Duration::from_secs(settings.connect_timeout_secs);
        let (builder, policy) = guarded_client_builder(settings)?;
        let client = builder
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .user_agent(settings.user_agent.as_str())
            .build()
            .context("building the HTTP client for URL fetches")?;
        Ok(UrlFetcher {
            client,
            policy,
            timeout,
            connect_timeout,
            max_bytes: settings.max_bytes,
            max_redirects: settings.max_redirects,
        })
    }

    /// Fetches `url` (http or https), refusing forbidden addresses on every hop.
    pub async fn fetch(&self, url: &str) -> Result<Bytes> {
        let original = Url::parse(url)
            .map_err(|e| invalid(format!("cannot parse URL {:?}: {e}", redact::url(url))))?;
        // The deadline covers the whole fetch, redirects included, not each request.
        match tokio::time::timeout(self.timeout, self.fetch_following_redirects(&original)).await {
            Ok(result) => result,
            Err(_) => Err(self.timed_out(&original)),
        }
    }

    async fn fetch_following_redirects(&self, original: &Url) -> Result<Bytes> {
        let mut current = original.clone();
        let mut redirect = 0;
        loop {
            let hop = Hop {
                original,
                redirect,
                url: &current,
            };
            self.check_target(&hop)?;
            tracing::debug!(host = current.host_str(), redirect, "fetching");
            let response = self
                .client
                .get(current.clone())
                .send()
                .await
                .map_err(|e| self.transfer_error(&e, &hop))?;
            let status = response.status();
            if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
                if !status.is_success() {
                    return Err(invalid(format!("{hop} answered HTTP {status}")));
                }
                return self.read_body(response, &hop).await;
            }
            if redirect == self.max_redirects {
                return Err(invalid(format!(
                    "refusing to fetch {}: more than {} redirects",
                    redacted(original),
                    self.max_redirects
                )));
            }
            current = redirect_target(&response, &hop)?;
            redirect += 1;
        }
    }

    /// The checks made before each request: scheme, credentials and, since the connector
    /// does not resolve IP literals, the address itself.
    fn check_target(&self, hop: &Hop<'_>) -> Result<()> {
        check_url_target(&self.policy, hop.url)
            .map_err(|why| invalid(format!("refusing to fetch {hop}: {why}")))
    }

    async fn read_body(&self, mut response: reqwest::Response, hop: &Hop<'_>) -> Result<Bytes> {
        let limit = self.max_bytes;
        let too_large = || {
            let url = redacted(hop.url);
            Error::new(
                ErrorCode::PayloadTooLarge,
                format!("the image at {url} exceeds {limit} bytes"),
            )
        };
        let declared = response.content_length();
        if declared.is_some_and(|len| len > limit) {
            return Err(too_large());
        }
        // Only a checked Content-Length sizes the buffer; otherwise it grows as data arrives.
        let capacity = declared
            .and_then(|len| usize::try_from(len).ok())
            .unwrap_or(0);
        let mut body = BytesMut::with_capacity(capacity);
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transfer_error(&e, hop))?
        {
            if body.len() as u64 + chunk.len() as u64 > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }

    fn timed_out(&self, original: &Url) -> Error {
        let secs = self.timeout.as_secs();
        invalid(format!(
            "fetching {} timed out after {secs} s",
            redacted(original)
        ))
    }

    /// Turns a reqwest failure into a message that names the cause, not reqwest's layers.
    fn transfer_error(&self, err: &reqwest::Error, hop: &Hop<'_>) -> Error {
        if let Some(resolve) = find_source::<ResolveError>(err) {
            return match resolve {
                ResolveError::Forbidden { .. } => {
                    invalid(format!("refusing to fetch {hop}: {resolve}"))
                }
                ResolveError::Lookup { .. } | ResolveError::NoAddress { .. } => {
                    invalid(format!("cannot fetch {hop}: {resolve}"))
                }
            };
        }
        if err.is_timeout() {
            if err.is_connect() {
                let secs = self.connect_timeout.as_secs();
                return invalid(format!(
                    "cannot fetch {hop}: connecting timed out after {secs} s"
                ));
            }
            return self.timed_out(hop.original);
        }
        invalid(format!("cannot fetch {hop}: {}", short_cause(err)))
    }
}

/// A client builder whose connections obey the `fetch.*` address policy: host names resolve
/// only to allowed addresses (pinned per `fetch.resolve`), no proxy, no redirects followed.
/// Shared by everything that connects to a caller-supplied URL (image fetches, callbacks), so
/// there is one SSRF boundary. IP literals bypass the resolver: check them with
/// [`check_url_target`] before each request.
pub fn guarded_client_builder(
    settings: &FetchSettings,
) -> anyhow::Result<(reqwest::ClientBuilder, Arc<AddressPolicy>)> {
    let policy = Arc::new(AddressPolicy::new(&settings.allow)?);
    let resolver = GuardedResolver {
        policy: policy.clone(),
        pinned: Arc::new(pinned_hosts(settings)?),
    };
    let builder = reqwest::Client::builder()
        .redirect(Policy::none())
        // A proxy would connect on our behalf to addresses the resolver never sees.
        .no_proxy()
        .dns_resolver(Arc::new(resolver));
    Ok((builder, policy))
}

/// Why `url` may not be requested, before any connection: a scheme other than http(s),
/// credentials in the URL, no host, or an IP literal the policy refuses.
pub fn check_url_target(policy: &AddressPolicy, url: &Url) -> std::result::Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        let scheme = url.scheme();
        return Err(format!(
            "only http and https URLs can be fetched, got {scheme}"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("URLs carrying credentials (user:password@) are not fetched".to_owned());
    }
    let ip = match url.host() {
        None => return Err("the URL has no host".to_owned()),
        Some(Host::Domain(_)) => return Ok(()),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
    };
    policy.check_ip(ip).map_err(|refusal| refusal.to_string())
}

/// The address-policy refusal inside a failed request made by a
/// [`guarded_client_builder`] client, as "host resolves to ip, which is ...".
pub fn resolver_refusal(err: &reqwest::Error) -> Option<String> {
    match find_source::<ResolveError>(err)? {
        refused @ ResolveError::Forbidden { .. } => Some(refused.to_string()),
        ResolveError::Lookup { .. } | ResolveError::NoAddress { .. } => None,
    }
}

/// Where a request goes, for messages: the URL asked for and, after a redirect, the hop.
struct Hop<'a> {
    original: &'a Url,
    redirect: u32,
    url: &'a Url,
}

impl fmt::Display for Hop<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", redacted(self.original))?;
        if self.redirect > 0 {
            write!(f, ": redirect {} to {}", self.redirect, redacted(self.url))?;
        }
        Ok(())
    }
}

fn redirect_target(response: &reqwest::Response, hop: &Hop<'_>) -> Result<Url> {
    let status = response.status();
    let location = response.headers().get(LOCATION).ok_or_else(|| {
        invalid(format!(
            "{hop} answered HTTP {status} without a Location header"
        ))
    })?;
    let location = std::str::from_utf8(location.as_bytes()).map_err(|_| {
        invalid(format!(
            "{hop} answered HTTP {status} with a Location header that is not UTF-8"
        ))
    })?;
    hop.url.join(location).map_err(|e| {
        invalid(format!(
            "{hop} answered HTTP {status} with an invalid Location {:?}: {e}",
            redact::url(location)
        ))
    })
}

/// The URL as shown in messages and logs: no credentials, no query (presigned links carry
/// their signatures there), bounded in length.
fn redacted(url: &Url) -> String {
    redact::url_parsed(url)
}

fn invalid(message: String) -> Error {
    Error::new(ErrorCode::InvalidArgument, message)
}

fn find_source<'e, T: StdError + 'static>(err: &'e (dyn StdError + 'static)) -> Option<&'e T> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// The innermost cause ("connection refused", a TLS certificate error), which is what a
/// caller can act on; reqwest's and hyper's wrappers add nothing.
fn short_cause(err: &reqwest::Error) -> String {
    let mut innermost: &(dyn StdError + 'static) = err;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    match innermost.downcast_ref::<io::Error>().map(io::Error::kind) {
        Some(io::ErrorKind::ConnectionRefused) => "connection refused".to_owned(),
        Some(io::ErrorKind::ConnectionReset) => "connection reset".to_owned(),
        Some(_) | None => innermost.to_string(),
    }
}

/// `fetch.resolve` with host names normalised the way URL hosts are (lowercase, no final dot).
fn pinned_hosts(settings: &FetchSettings) -> anyhow::Result<HashMap<String, Vec<IpAddr>>> {
    let mut pinned = HashMap::new();
    for (host, addrs) in &settings.resolve {
        anyhow::ensure!(!addrs.is_empty(), "fetch.resolve.{host} lists no addresses");
        anyhow::ensure!(
            host.parse::<IpAddr>().is_err(),
            "fetch.resolve.{host}: only host names are resolved, not IP addresses"
        );
        pinned.insert(normalize_host(host), addrs.clone());
    }
    Ok(pinned)
}

fn normalize_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Resolves host names for the HTTP connector and refuses the connection if any address is
/// forbidden. The connector dials only the addresses returned here, so the check cannot be
/// raced by a second DNS answer.
struct GuardedResolver {
    policy: Arc<AddressPolicy>,
    /// `fetch.resolve` overrides, consulted before the system resolver (like curl --resolve).
    pinned: Arc<HashMap<String, Vec<IpAddr>>>,
}

/// Why the resolver gave the connector no addresses; found again in reqwest's error chain.
#[derive(Debug)]
enum ResolveError {
    Forbidden { host: String, refusal: Refusal },
    Lookup { host: String, source: io::Error },
    NoAddress { host: String },
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::Forbidden { host, refusal } => {
                write!(
                    f,
                    "{host} resolves to {}, which is {}",
                    refusal.ip(),
                    refusal.reason()
                )
            }
            ResolveError::Lookup { host, source } => write!(f, "cannot resolve {host}: {source}"),
            ResolveError::NoAddress { host } => write!(f, "{host} resolves to no address"),
        }
    }
}

impl StdError for ResolveError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            ResolveError::Forbidden { refusal, .. } => Some(refusal),
            ResolveError::Lookup { source, .. } => Some(source),
            ResolveError::NoAddress { .. } => None,
        }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = normalize_host(name.as_str());
        let policy = self.policy.clone();
        let pinned = self.pinned.get(&host).cloned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = match pinned {
                // Port 0 is replaced by the URL's port or the scheme's default.
                Some(ips) => ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect(),
                None => tokio::net::lookup_host((host.as_str(), 0))
                    .await
                    .map_err(|source| ResolveError::Lookup {
                        host: host.clone(),
                        source,
                    })?
                    .collect(),
            };
            if addrs.is_empty() {
                return Err(ResolveError::NoAddress { host }.into());
            }
            if !policy.host_allowed(&host) {
                for addr in &addrs {
                    if let Err(refusal) = policy.check_ip(addr.ip()) {
                        return Err(ResolveError::Forbidden { host, refusal }.into());
                    }
                }
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use axum::Router;
    use axum::body::Body;
    use axum::extract::Path;
    use axum::http::{StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// Refusals happen before any connection, so they come back at once; anything slower
    /// suggests the fetcher dialled out.
    const INSTANT: Duration = Duration::from_millis(500);

    fn settings(allow: &[&str]) -> FetchSettings {
        FetchSettings {
            timeout_secs: 5,
            connect_timeout_secs: 2,
            max_bytes: 1024 * 1024,
            max_redirects: 3,
            allow: allow.iter().map(|a| (*a).to_owned()).collect(),
            user_agent: "imgforge-test".to_owned(),
            resolve: BTreeMap::new(),
        }
    }

    fn pin(settings: &mut FetchSettings, host: &str, ips: &[&str]) {
        let ips = ips.iter().map(|ip| ip.parse().unwrap()).collect();
        settings.resolve.insert(host.to_owned(), ips);
    }

    async fn bind_loopback() -> (TcpListener, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        (listener, port)
    }

    fn serve(listener: TcpListener, app: Router) {
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    }

    /// A server whose `/image` answers "image bytes" and counts its hits.
    async fn image_server() -> (u16, Arc<AtomicUsize>) {
        let (listener, port) = bind_loopback().await;
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let app = Router::new().route(
            "/image",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { "image bytes" }
            }),
        );
        serve(listener, app);
        (port, hits)
    }

    fn redirect_to(location: String) -> Response {
        (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
    }

    async fn fetch_err(fetcher: &UrlFetcher, url: &str) -> Error {
        match fetcher.fetch(url).await {
            Ok(body) => panic!("{url} was fetched ({} bytes)", body.len()),
            Err(err) => {
                assert_eq!(err.field, None, "callers name the field");
                err
            }
        }
    }

    /// Fetches a URL that must be refused before any connection is made.
    async fn refused_at_once(fetcher: &UrlFetcher, url: &str) -> String {
        let err = tokio::time::timeout(INSTANT, fetch_err(fetcher, url))
            .await
            .unwrap_or_else(|_| panic!("{url} was not refused at once"));
        assert_eq!(err.code, ErrorCode::InvalidArgument, "{}", err.message);
        assert!(
            err.message.starts_with("refusing to fetch "),
            "{}",
            err.message
        );
        err.message
    }

    #[tokio::test]
    async fn fetches_from_allowlisted_loopback_server() {
        let (port, hits) = image_server().await;
        let mut config = settings(&["127.0.0.1/32"]);
        // An allowed range admits names that resolve into it as well.
        pin(&mut config, "images.test", &["127.0.0.1"]);
        let fetcher = UrlFetcher::new(&config).unwrap();
        for url in [
            format!("http://127.0.0.1:{port}/image"),
            format!("http://images.test:{port}/image"),
        ] {
            let body = fetcher.fetch(&url).await.unwrap();
            assert_eq!(&body[..], b"image bytes");
        }
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn sends_the_configured_user_agent() {
        let (listener, port) = bind_loopback().await;
        let app = Router::new().route(
            "/",
            get(|headers: axum::http::HeaderMap| async move {
                headers[header::USER_AGENT].to_str().unwrap().to_owned()
            }),
        );
        serve(listener, app);
        let fetcher = UrlFetcher::new(&settings(&["127.0.0.1"])).unwrap();
        let body = fetcher
            .fetch(&format!("http://127.0.0.1:{port}/"))
            .await
            .unwrap();
        assert_eq!(&body[..], b"imgforge-test");
    }

    #[tokio::test]
    async fn refuses_loopback_by_default() {
        let (port, hits) = image_server().await;
        let fetcher = UrlFetcher::new(&settings(&[])).unwrap();
        let message = refused_at_once(&fetcher, &format!("http://127.0.0.1:{port}/image")).await;
        assert_eq!(
            message,
            format!(
                "refusing to fetch http://127.0.0.1:{port}/image: 127.0.0.1 is a loopback address"
            )
        );
        // `url` normalises the odd IPv4 spellings, so the literal check sees 127.0.0.1.
        for odd in [
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0177.0.0.1/",
            "http://127.1/",
        ] {
            let parsed = Url::parse(odd).unwrap();
            assert_eq!(
                parsed.host(),
                Some(Host::Ipv4([127, 0, 0, 1].into())),
                "{odd}"
            );
            let message = refused_at_once(&fetcher, odd).await;
            assert!(
                message.ends_with("127.0.0.1 is a loopback address"),
                "{message}"
            );
        }
        let message = refused_at_once(&fetcher, &format!("http://[::1]:{port}/image")).await;
        assert!(message.ends_with("::1 is a loopback address"), "{message}");
        let message = refused_at_once(&fetcher, "http://[::ffff:127.0.0.1]/").await;
        assert!(
            message.contains("IPv4-mapped form of 127.0.0.1"),
            "{message}"
        );
        let message = refused_at_once(&fetcher, "http://0/").await;
        assert!(message.contains("0.0.0.0 is an unspecified"), "{message}");
        assert_eq!(hits.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn refuses_metadata_address_without_connecting() {
        let fetcher = UrlFetcher::new(&settings(&[])).unwrap();
        let started = Instant::now();
        let message =
            refused_at_once(&fetcher, "http://169.254.169.254/latest/meta-data/iam/").await;
        assert_eq!(
            message,
            "refusing to fetch http://169.254.169.254/latest/meta-data/iam/: 169.254.169.254 is a \
             link-local / cloud metadata address (AWS, GCP and Azure serve instance credentials \
             at 169.254.169.254)"
        );
        let message = refused_at_once(&fetcher, "http://100.100.100.200/latest/meta-data/").await;
        assert!(message.contains("Alibaba Cloud"), "{message}");
        let message = refused_at_once(&fetcher, "http://[fd00:ec2::254]/latest/meta-data/").await;
        assert!(
            message.contains("fd00:ec2::254 is a unique-local"),
            "{message}"
        );
        let message = refused_at_once(&fetcher, "https://[::ffff:169.254.169.254]/").await;
        assert!(
            message.contains("of 169.254.169.254, which is a link-local"),
            "{message}"
        );
        assert!(started.elapsed() < INSTANT, "took {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn refuses_private_ip_after_redirect() {
        let (listener, port) = bind_loopback().await;
        let image_hits = Arc::new(AtomicUsize::new(0));
        let counter = image_hits.clone();
        let app = Router::new()
            .route(
                "/to-private",
                get(|| async { redirect_to("http://10.0.0.7/x".to_owned()) }),
            )
            .route(
                "/to-loopback",
                get(move || async move { redirect_to(format!("http://127.0.0.1:{port}/image")) }),
            )
            .route(
                "/to-evil-name",
                get(move || async move { redirect_to(format!("http://evil.test:{port}/image")) }),
            )
            .route(
                "/to-relative",
                get(|| async { redirect_to("image".to_owned()) }),
            )
            .route(
                "/image",
                get(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async { "image bytes" }
                }),
            );
        serve(listener, app);
        // `public.test` stands in for a public host: allowlisted by name, served on loopback.
        let mut config = settings(&["public.test"]);
        pin(&mut config, "public.test", &["127.0.0.1"]);
        pin(&mut config, "evil.test", &["127.0.0.1"]);
        let fetcher = UrlFetcher::new(&config).unwrap();
        let base = format!("http://public.test:{port}");

        let body = fetcher.fetch(&format!("{base}/to-relative")).await.unwrap();
        assert_eq!(&body[..], b"image bytes");

        let message = refused_at_once(&fetcher, &format!("{base}/to-private")).await;
        assert_eq!(
            message,
            format!(
                "refusing to fetch {base}/to-private: redirect 1 to http://10.0.0.7/x: \
                 10.0.0.7 is a private address"
            )
        );
        let message = refused_at_once(&fetcher, &format!("{base}/to-loopback")).await;
        assert!(
            message.ends_with(&format!(
                "redirect 1 to http://127.0.0.1:{port}/image: 127.0.0.1 is a loopback address"
            )),
            "{message}"
        );
        // A redirect to a name is judged by the resolver on that hop.
        let message = refused_at_once(&fetcher, &format!("{base}/to-evil-name")).await;
        assert!(
            message.ends_with("evil.test resolves to 127.0.0.1, which is a loopback address"),
            "{message}"
        );
        assert_eq!(
            image_hits.load(Ordering::SeqCst),
            1,
            "only the relative redirect arrived"
        );
    }

    #[tokio::test]
    async fn refuses_name_resolving_to_loopback() {
        let (port, hits) = image_server().await;
        let mut config = settings(&[]);
        pin(&mut config, "evil.test", &["127.0.0.1"]);
        let fetcher = UrlFetcher::new(&config).unwrap();
        let url = format!("http://Evil.Test:{port}/image");
        let message = refused_at_once(&fetcher, &url).await;
        assert_eq!(
            message,
            format!(
                "refusing to fetch http://evil.test:{port}/image: evil.test resolves to \
                 127.0.0.1, which is a loopback address"
            )
        );
        assert_eq!(hits.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn refuses_name_if_any_address_is_forbidden() {
        let (port, hits) = image_server().await;
        let mut config = settings(&["127.0.0.1/32"]);
        pin(&mut config, "mixed.test", &["127.0.0.1", "10.0.0.1"]);
        let fetcher = UrlFetcher::new(&config).unwrap();
        let message = refused_at_once(&fetcher, &format!("http://mixed.test:{port}/image")).await;
        assert!(
            message.ends_with("mixed.test resolves to 10.0.0.1, which is a private address"),
            "{message}"
        );
        assert_eq!(hits.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn caps_redirects() {
        let (listener, port) = bind_loopback().await;
        let app = Router::new().route(
            "/hop/{n}",
            get(|Path(n): Path<u32>| async move {
                if n < 10 {
                    redirect_to(format!("/hop/{}", n + 1))
                } else {
                    "arrived".into_response()
                }
            }),
        );
        serve(listener, app);
        let fetcher = UrlFetcher::new(&settings(&["127.0.0.1"])).unwrap();
        let base = format!("http://127.0.0.1:{port}");

        let body = fetcher.fetch(&format!("{base}/hop/7")).await.unwrap();
        assert_eq!(
            &body[..],
            b"arrived",
            "three redirects are within the limit"
        );

        let err = fetch_err(&fetcher, &format!("{base}/hop/0")).await;
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert_eq!(
            err.message,
            format!("refusing to fetch {base}/hop/0: more than 3 redirects")
        );
    }

    #[tokio::test]
    async fn caps_body_size() {
        const LIMIT: u64 = 1000;
        let (listener, port) = bind_loopback().await;
        let app = Router::new()
            .route("/exact", get(|| async { vec![7u8; LIMIT as usize] }))
            .route("/sized", get(|| async { vec![7u8; LIMIT as usize + 1] }))
            .route(
                "/endless",
                get(|| async {
                    let chunk = Bytes::from_static(&[7u8; 100]);
                    let chunks =
                        futures::stream::repeat_with(move || Ok::<_, io::Error>(chunk.clone()));
                    Body::from_stream(chunks)
                }),
            );
        serve(listener, app);
        let mut config = settings(&["127.0.0.1"]);
        config.max_bytes = LIMIT;
        let fetcher = UrlFetcher::new(&config).unwrap();
        let base = format!("http://127.0.0.1:{port}");

        let body = fetcher.fetch(&format!("{base}/exact")).await.unwrap();
        assert_eq!(body.len() as u64, LIMIT);

        for path in ["/sized", "/endless"] {
            let err = fetch_err(&fetcher, &format!("{base}{path}")).await;
            assert_eq!(err.code, ErrorCode::PayloadTooLarge, "{}", err.message);
            assert_eq!(
                err.message,
                format!("the image at {base}{path} exceeds 1000 bytes")
            );
        }

        // A declared length over the limit is refused before any body byte is awaited.
        let (raw, raw_port) = bind_loopback().await;
        tokio::spawn(async move {
            let (mut socket, _) = raw.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await.unwrap();
            let head = "HTTP/1.1 200 OK\r\nContent-Length: 50000000\r\n\r\n";
            socket.write_all(head.as_bytes()).await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        let url = format!("http://127.0.0.1:{raw_port}/declared");
        let err = tokio::time::timeout(INSTANT, fetch_err(&fetcher, &url))
            .await
            .unwrap();
        assert_eq!(err.code, ErrorCode::PayloadTooLarge, "{}", err.message);
        assert_eq!(
            err.message,
            format!("the image at {url} exceeds 1000 bytes")
        );
    }

    #[tokio::test]
    async fn times_out_slow_server() {
        let (listener, port) = bind_loopback().await;
        let app = Router::new()
            .route(
                "/slow-head",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    "too late"
                }),
            )
            .route(
                "/slow-body",
                get(|| async {
                    // Each byte arrives quickly; only the deadline on the whole fetch ends it.
                    let drip = futures::stream::unfold((), |()| async {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Some((Ok::<_, io::Error>(Bytes::from_static(b"x")), ()))
                    });
                    Body::from_stream(drip)
                }),
            )
            .route(
                "/redirect-to-slow",
                get(|| async { redirect_to("/slow-head".to_owned()) }),
            );
        serve(listener, app);
        let mut config = settings(&["127.0.0.1"]);
        config.timeout_secs = 1;
        let fetcher = UrlFetcher::new(&config).unwrap();
        for path in ["/slow-head", "/slow-body", "/redirect-to-slow"] {
            let url = format!("http://127.0.0.1:{port}{path}");
            let started = Instant::now();
            let err = fetch_err(&fetcher, &url).await;
            assert_eq!(err.code, ErrorCode::InvalidArgument);
            assert_eq!(err.message, format!("fetching {url} timed out after 1 s"));
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "took {:?}",
                started.elapsed()
            );
        }
    }

    #[tokio::test]
    async fn rejects_non_http_schemes_and_credentials() {
        let fetcher = UrlFetcher::new(&settings(&[])).unwrap();
        for (url, scheme) in [
            ("ftp://example.com/a.png", "ftp"),
            ("file:///etc/passwd", "file"),
            ("gopher://example.com/", "gopher"),
            ("data:image/png;base64,AAAA", "data"),
        ] {
            let message = refused_at_once(&fetcher, url).await;
            assert!(
                message.ends_with(&format!(
                    "only http and https URLs can be fetched, got {scheme}"
                )),
                "{message}"
            );
        }
        for url in [
            "http://user:hunter2@example.com/a.png",
            "https://user@example.com/a.png",
        ] {
            let message = refused_at_once(&fetcher, url).await;
            assert!(message.contains("credentials"), "{message}");
            assert!(
                !message.contains("hunter2") && !message.contains("user@"),
                "{message}"
            );
        }
        let err = fetch_err(&fetcher, "not a url").await;
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert!(
            err.message.starts_with("cannot parse URL \"not a url\""),
            "{}",
            err.message
        );

        // The same rules hold for a redirect's target.
        let (listener, port) = bind_loopback().await;
        let app = Router::new().route(
            "/",
            get(|| async { redirect_to("file:///etc/passwd".to_owned()) }),
        );
        serve(listener, app);
        let fetcher = UrlFetcher::new(&settings(&["127.0.0.1"])).unwrap();
        let message = refused_at_once(&fetcher, &format!("http://127.0.0.1:{port}/")).await;
        assert!(
            message.ends_with(
                "redirect 1 to file:///etc/passwd: only http and https URLs can be fetched, got file"
            ),
            "{message}"
        );
    }

    #[tokio::test]
    async fn reports_http_error_status() {
        let (listener, port) = bind_loopback().await;
        let app = Router::new()
            .route(
                "/broken",
                get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
            )
            .route(
                "/nowhere",
                get(|| async { (StatusCode::FOUND, "no location") }),
            );
        serve(listener, app);
        let fetcher = UrlFetcher::new(&settings(&["127.0.0.1"])).unwrap();
        let base = format!("http://127.0.0.1:{port}");
        for (path, expected) in [
            ("/missing", "answered HTTP 404 Not Found"),
            ("/broken", "answered HTTP 500 Internal Server Error"),
            (
                "/nowhere",
                "answered HTTP 302 Found without a Location header",
            ),
        ] {
            let err = fetch_err(&fetcher, &format!("{base}{path}")).await;
            assert_eq!(err.code, ErrorCode::InvalidArgument);
            assert_eq!(err.message, format!("{base}{path} {expected}"));
        }
    }

    #[tokio::test]
    async fn reports_connection_failures_briefly() {
        let (closed, port) = bind_loopback().await;
        drop(closed);
        let fetcher = UrlFetcher::new(&settings(&["127.0.0.1"])).unwrap();
        let url = format!("http://127.0.0.1:{port}/");
        let err = fetch_err(&fetcher, &url).await;
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert_eq!(
            err.message,
            format!("cannot fetch {url}: connection refused")
        );
    }

    #[test]
    fn rejects_invalid_configuration() {
        let err = UrlFetcher::new(&settings(&["10.0.0.0/33"])).unwrap_err();
        assert!(err.to_string().contains("\"10.0.0.0/33\""), "{err}");
        let mut config = settings(&[]);
        config.resolve.insert("empty.test".to_owned(), Vec::new());
        let err = UrlFetcher::new(&config).unwrap_err();
        assert!(
            err.to_string().contains("fetch.resolve.empty.test"),
            "{err}"
        );
        let mut config = settings(&[]);
        config.timeout_secs = 0;
        assert!(UrlFetcher::new(&config).is_err());
    }
}
