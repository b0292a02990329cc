//! Finding host names in the strings of a pod template: env values, command and
//! args items, ConfigMap values. Pure text work; which names are Services is
//! decided by the graph.
//!
//! Recognised shapes, anywhere in a whitespace-separated word:
//!
//! - URLs: `http://catalog:8080/api`, `postgres://user@db.shop:5432/x?ssl=on`,
//!   `amqp://queue.shop.svc` (the port then comes from the scheme: see
//!   [`scheme_port`]);
//! - `host:port` and bare `host`, also inside `--flag=value`, `KEY=value` and
//!   comma-separated lists (`a:9300,b:9300`), after a `user@`;
//! - `host port` as two words (`nc -z ledger.payments 5432`).
//!
//! A host is lowercase letters, digits, `-` and `.`, not starting with `.` or
//! `-` (so `$(POD).svc-headless…` is not read as `svc-headless…`) and not an
//! IP address.

/// A host named in a string, with the port when the string says one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRef {
    /// Lowercase DNS name as written (no trailing dot).
    pub host: String,
    pub port: Option<i32>,
    /// How the port was given.
    pub port_from: PortFrom,
    /// Read from a URL (`scheme://host`): a strong sign it is a host.
    pub url: bool,
    /// The URL's scheme, lowercase (empty when not a URL).
    pub scheme: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortFrom {
    /// No port: the graph chooses (a sibling `*_PORT` env var, or the Service's first port).
    None,
    /// Written after the host (`:7070`) or as the next word.
    Explicit,
    /// The default port of the URL's scheme (`http` → 80).
    Scheme,
    /// A URL scheme with no known default port (`grpc://`, `tcp://`).
    UnknownScheme,
}

/// The default port of a URL scheme, for the protocols services commonly speak.
pub fn scheme_port(scheme: &str) -> Option<i32> {
    Some(match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        "amqp" => 5672,
        "amqps" => 5671,
        "redis" => 6379,
        "rediss" => 6380,
        "postgres" | "postgresql" | "jdbc:postgresql" => 5432,
        "mysql" | "jdbc:mysql" | "mariadb" => 3306,
        "mongodb" => 27017,
        "nats" => 4222,
        "kafka" => 9092,
        "memcached" | "memcache" => 11211,
        "ldap" => 389,
        "ldaps" => 636,
        "smtp" => 25,
        "ftp" => 21,
        "ssh" | "sftp" => 22,
        "zookeeper" | "zk" => 2181,
        "mqtt" => 1883,
        "elasticsearch" => 9200,
        _ => return None,
    })
}

fn is_host_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'
}

/// Whether `s` can be a DNS name we would look up: `[a-z0-9-.]`, starting with a
/// letter or digit, not all digits and dots (an IP), labels not empty.
pub fn valid_host(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.chars().all(is_host_char)
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && !s.chars().all(|c| c.is_ascii_digit() || c == '.')
        && s.split('.').all(|l| !l.is_empty() && l.len() <= 63)
}

fn parse_port(s: &str) -> Option<i32> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|p| (1..=65535).contains(p))
}

/// `host[:port]` (after any `user@`), or nothing when it is not one.
fn host_port(authority: &str) -> Option<(String, Option<i32>)> {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(parse_port(p)?)),
        None => (authority, None),
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    valid_host(host).then(|| (host.to_owned(), port))
}

/// Characters that end a URL's authority or a host inside a word.
fn ends_authority(c: char) -> bool {
    matches!(
        c,
        '/' | '?'
            | '#'
            | '\''
            | '"'
            | ','
            | ';'
            | ')'
            | '('
            | ']'
            | '['
            | '}'
            | '{'
            | '>'
            | '<'
            | '|'
            | '\\'
            | '`'
    )
}

/// Every host named in `text` (see the module docs), in order.
pub fn scan(text: &str) -> Vec<HostRef> {
    let mut out = Vec::new();
    let words: Vec<&str> = text.split_whitespace().collect();
    for (i, word) in words.iter().enumerate() {
        if word.contains("://") {
            scan_urls(word, &mut out);
            continue;
        }
        let value = match word.strip_prefix('-') {
            Some(_) => word.split_once('=').map_or("", |(_, v)| v),
            None => word.rsplit('=').next().unwrap_or(word),
        };
        let parts: Vec<&str> = value.split([',', ';']).collect();
        let single = parts.len() == 1;
        for part in parts {
            let part = part.trim_matches(|c: char| matches!(c, '\'' | '"' | '(' | ')' | '[' | ']'));
            let part = part.split(['/', '?']).next().unwrap_or(part);
            let Some((host, port)) = host_port(part) else {
                continue;
            };
            // `nc -z host 5432`: the port as the next word.
            let (port, port_from) = match port {
                Some(p) => (Some(p), PortFrom::Explicit),
                None => match words
                    .get(i + 1)
                    .and_then(|w| parse_port(w.trim_end_matches(';')))
                {
                    Some(p) if single => (Some(p), PortFrom::Explicit),
                    _ => (None, PortFrom::None),
                },
            };
            out.push(HostRef {
                host,
                port,
                port_from,
                url: false,
                scheme: String::new(),
            });
        }
    }
    out
}

fn scan_urls(word: &str, out: &mut Vec<HostRef>) {
    let mut rest = word;
    while let Some(at) = rest.find("://") {
        let before = &rest[..at];
        let scheme_start = before
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-' | ':'))
            .last()
            .map_or(at, |(i, _)| i);
        let scheme = before[scheme_start..].trim_start_matches(|c: char| !c.is_ascii_alphabetic());
        let after = &rest[at + 3..];
        let end = after.find(ends_authority).unwrap_or(after.len());
        let authority = &after[..end];
        if let Some((host, port)) = host_port(authority) {
            let (port, port_from) = match port {
                Some(p) => (Some(p), PortFrom::Explicit),
                None => match scheme_port(scheme) {
                    Some(p) => (Some(p), PortFrom::Scheme),
                    None => (None, PortFrom::UnknownScheme),
                },
            };
            out.push(HostRef {
                host,
                port,
                port_from,
                url: true,
                scheme: scheme.to_ascii_lowercase(),
            });
        }
        rest = &after[end..];
    }
}

/// URL schemes of storage, files and registries: their "hosts" are buckets and
/// paths, never Services.
pub fn storage_scheme(scheme: &str) -> bool {
    matches!(
        scheme,
        "s3" | "s3a"
            | "gs"
            | "gcs"
            | "file"
            | "unix"
            | "az"
            | "abfs"
            | "abfss"
            | "hdfs"
            | "wasb"
            | "wasbs"
            | "arn"
            | "oci"
            | "docker"
            | "git"
            | "data"
            | "blob"
    )
}

/// Whether an env var or flag name says its value is a host or an address
/// (`CART_HOST`, `MYSQL_DB_HOST`, `--upstream`, `K8S_SERVICE_NAME`): bare
/// one-word names (`cart`) count as hosts only under such names.
pub fn names_a_host(name: &str) -> bool {
    const HINTS: [&str; 16] = [
        "HOST", "ADDR", "SERVER", "SERVICE", "SVC", "ENDPOINT", "URL", "URI", "UPSTREAM",
        "BACKEND", "BROKER", "PEER", "SEED", "TARGET", "DSN", "REMOTE",
    ];
    let upper = name.to_ascii_uppercase();
    HINTS.iter().any(|h| upper.contains(h))
}

/// For an env var naming a host without a port (`PAYMENTS_HOST`,
/// `AGGREGATOR_ADDR`), the names its port would have (`PAYMENTS_PORT`, …).
pub fn sibling_port_names(name: &str) -> Vec<String> {
    const SUFFIXES: [&str; 8] = [
        "_SERVICE_HOST",
        "_HOSTNAME",
        "_HOST",
        "_ADDRESS",
        "_ADDR",
        "_SERVER",
        "_SERVICE",
        "_ENDPOINT",
    ];
    let upper = name.to_ascii_uppercase();
    for suffix in SUFFIXES {
        if let Some(prefix) = upper.strip_suffix(suffix) {
            let prefix = &name[..prefix.len()];
            return vec![format!("{prefix}_PORT"), format!("{prefix}_SERVICE_PORT")];
        }
    }
    Vec::new()
}

/// The port number in a `*_PORT` value (`"443"`, or `tcp://10.0.0.1:443` as
/// Kubernetes' own service env vars write it).
pub fn port_value(v: &str) -> Option<i32> {
    let v = v.trim();
    parse_port(v).or_else(|| v.rsplit(':').next().and_then(parse_port))
}

/// Expands `$(VAR)` the way the kubelet does in command, args and env values:
/// from the variables defined so far; unknown references stay as written and
/// `$$` is a literal `$`.
pub fn expand(s: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    if !s.contains('$') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('(')
            && let Some(end) = body.find(')')
        {
            let name = &body[..end];
            match lookup(name) {
                Some(v) => out.push_str(&v),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    type Found = Vec<(String, Option<i32>, PortFrom)>;

    fn hosts(text: &str) -> Found {
        scan(text)
            .into_iter()
            .map(|h| (h.host, h.port, h.port_from))
            .collect()
    }

    fn one(host: &str, port: Option<i32>, from: PortFrom) -> Found {
        vec![(host.to_owned(), port, from)]
    }

    #[test]
    fn every_common_form() {
        use PortFrom::{Explicit, Scheme, UnknownScheme};
        let pn = PortFrom::None;
        let cases: Vec<(&str, Found)> = vec![
            ("cart", one("cart", None, pn)),
            ("cart:7070", one("cart", Some(7070), Explicit)),
            ("cart.shop", one("cart.shop", None, pn)),
            ("cart.shop.svc", one("cart.shop.svc", None, pn)),
            (
                "checkout.shop.svc.cluster.local:5050",
                one("checkout.shop.svc.cluster.local", Some(5050), Explicit),
            ),
            ("http://catalog:8080", one("catalog", Some(8080), Explicit)),
            (
                "http://search:9200/v1/query",
                one("search", Some(9200), Explicit),
            ),
            (
                "http://storefront.shop.svc.cluster.local/_health/ready",
                one("storefront.shop.svc.cluster.local", Some(80), Scheme),
            ),
            (
                "redis://cart-redis:6379/0",
                one("cart-redis", Some(6379), Explicit),
            ),
            (
                "amqp://orders-queue.shop.svc",
                one("orders-queue.shop.svc", Some(5672), Scheme),
            ),
            (
                "postgres://orders@shop-postgres.shop:5432/orders",
                one("shop-postgres.shop", Some(5432), Explicit),
            ),
            (
                "postgres://vault@ledger:5432/ledger?sslmode=verify-full",
                one("ledger", Some(5432), Explicit),
            ),
            ("grpc://ranker", one("ranker", None, UnknownScheme)),
            (
                "--upstream=search:9200",
                one("search", Some(9200), Explicit),
            ),
            (
                "--opensearch=http://log-store:9200",
                one("log-store", Some(9200), Explicit),
            ),
            (
                "until nc -z ledger.payments-secure.svc 5432; do sleep 2; done",
                vec![
                    ("until".into(), None, pn),
                    ("nc".into(), None, pn),
                    ("ledger.payments-secure.svc".into(), Some(5432), Explicit),
                    ("do".into(), None, pn),
                    ("sleep".into(), Some(2), Explicit),
                    ("done".into(), None, pn),
                ],
            ),
            (
                "a-0:9300,b-1:9300",
                vec![
                    ("a-0".into(), Some(9300), Explicit),
                    ("b-1".into(), Some(9300), Explicit),
                ],
            ),
            ("user-db:27017", one("user-db", Some(27017), Explicit)),
        ];
        for (text, want) in &cases {
            assert_eq!(&hosts(text), want, "{text}");
        }
    }

    #[test]
    fn not_hosts() {
        for text in [
            "127.0.0.1:5432/ledger?sslmode=disable",
            "--listen=:8080",
            "--web.listen-address=$(HOST_IP):9100",
            "rabbit@$(MY_POD_NAME).orders-queue-headless.shop.svc.cluster.local",
            "InternalIP,ExternalIP",
            "-Xmx768m",
            "/var/lib/postgresql/data",
            "",
        ] {
            let found: Vec<_> = scan(text)
                .into_iter()
                .filter(|h| h.host.contains('.') || h.port.is_some())
                .collect();
            assert!(found.is_empty(), "{text}: {found:?}");
        }
    }

    #[test]
    fn url_inside_a_shell_string() {
        let found = scan(
            "while true; do locust --host http://front-end.sock-shop.svc.cluster.local -f x; done",
        );
        assert!(found.contains(&HostRef {
            host: "front-end.sock-shop.svc.cluster.local".into(),
            port: Some(80),
            port_from: PortFrom::Scheme,
            url: true,
            scheme: "http".into(),
        }));
    }

    #[test]
    fn hints_and_siblings() {
        assert!(names_a_host("MYSQL_DB_HOST"));
        assert!(names_a_host("K8S_SERVICE_NAME"));
        assert!(names_a_host("upstream"));
        assert!(!names_a_host("POSTGRES_USER"));
        assert_eq!(
            sibling_port_names("PAYMENTS_HOST"),
            ["PAYMENTS_PORT", "PAYMENTS_SERVICE_PORT"]
        );
        assert_eq!(
            sibling_port_names("REDIS_SERVICE_HOST"),
            ["REDIS_PORT", "REDIS_SERVICE_PORT"]
        );
        assert!(sibling_port_names("CATALOG_URL").is_empty());
        assert_eq!(port_value("443"), Some(443));
        assert_eq!(port_value("tcp://10.0.0.7:6379"), Some(6379));
        assert_eq!(port_value("many"), None);
    }

    #[test]
    fn expands_like_the_kubelet() {
        let env = |k: &str| (k == "HOST").then(|| "db".to_owned());
        assert_eq!(expand("$(HOST):5432", env), "db:5432");
        assert_eq!(expand("$(OTHER):1", env), "$(OTHER):1");
        assert_eq!(expand("$$(HOST)", env), "$(HOST)");
        assert_eq!(expand("cost $5", env), "cost $5");
    }
}
