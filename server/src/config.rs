//! Typed configuration read from environment variables; a bad value fails start-up with a
//! message naming the variable.

use std::{collections::HashMap, net::SocketAddr, path::PathBuf};

use secrecy::SecretString;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

/// Where the coach's answers come from.
#[derive(Debug, Clone)]
pub enum LlmConfig {
    /// Any server speaking OpenAI's streaming chat-completions protocol.
    OpenAi { base_url: String, api_key: Option<SecretString>, model: String },
    /// The embedded SmolLM2 gguf, run in-process.
    Local { model_path: PathBuf },
}

/// How much of the chat one user may use at once (see `chat::limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatLimitsConfig {
    /// Answers running at once, across the user's chats.
    pub concurrent_answers: usize,
    pub messages_per_minute: usize,
    /// Open sockets on one instance.
    pub sockets: usize,
    pub resumes_per_minute: usize,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub app_env: AppEnv,
    pub bind_addr: SocketAddr,
    /// `None` starts the embedded SecantusDB under `data_dir/db`.
    pub mongodb_uri: Option<String>,
    pub database_name: String,
    /// `None` in development: a secret is generated once and kept in `data_dir`.
    pub jwt_secret: Option<SecretString>,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_days: i64,
    /// A sign-in ends this many days after it began, however often it refreshes.
    pub signin_max_days: i64,
    pub log_filter: String,
    /// Origins allowed to call the API from another site; empty means same-origin only.
    pub cors_origins: Vec<String>,
    pub data_dir: PathBuf,
    /// The `secantusd-py` launcher from the set-up's virtualenv.
    pub embedded_db_bin: PathBuf,
    /// `None` writes each mail to `data_dir/outbox` (development only: production refuses
    /// to start without it).
    pub smtp_url: Option<SecretString>,
    pub mail_from: String,
    pub llm: LlmConfig,
    /// Largest answer the coach produces, in tokens.
    pub max_answer_tokens: u32,
    /// Threads of the async runtime (`WORKER_THREADS`). One by default, Tokio's
    /// current-thread runtime: a streamed answer's path then never wakes a second thread,
    /// about a tenth less CPU per turn than two (BENCHMARKS.md, round 7); more cores are used
    /// by running more instances.
    pub worker_threads: usize,
    /// The compiled site (`pkg/` with the WASM, JS and CSS).
    pub site_root: PathBuf,
    /// Set the `Secure` flag on cookies (behind HTTPS).
    pub secure_cookies: bool,
    /// Turn off rate limits (load tests only; refused in production).
    pub disable_rate_limits: bool,
    /// Per-user limits on the chat (per instance); `None` when rate limits are off.
    pub chat_limits: Option<ChatLimitsConfig>,
    /// Reverse proxies whose `X-Forwarded-For` is believed: behind them, rate limits count
    /// the visitor's address, not the proxy's. Empty: the header is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Count database write commands (tests and the benchmark).
    pub count_db_writes: bool,
    /// After a shutdown signal, how long answers in flight may run to their end before the
    /// rest are stored as interrupted (`SHUTDOWN_GRACE_SECS`).
    pub shutdown_grace: std::time::Duration,
    /// Where the triage's fixed answers and the chat's disclosure line send people
    /// (`SAFETY_REGION` defaults; `EMERGENCY_NUMBER`, `CRISIS_LINE`, `POISON_LINE`).
    pub safety_lines: crate::agent::SafetyLines,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration error in {var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

fn bad(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError { var, message: message.into() }
}

pub fn default_cache_dir() -> PathBuf {
    std::env::var_os("HEALTHCHAT_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        home.join(".cache/healthchat")
    })
}

impl Config {
    /// Reads the process environment (and a `.env` file, if present).
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        let vars: HashMap<String, String> = std::env::vars().collect();
        Self::from_vars(&vars)
    }

    /// Reads configuration from any map, so tests can inject their own.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |k: &str| vars.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());

        let app_env = match get("APP_ENV").as_deref() {
            None | Some("development") | Some("dev") | Some("test") => AppEnv::Development,
            Some("production") | Some("prod") => AppEnv::Production,
            Some(other) => return Err(bad("APP_ENV", format!("expected development or production, got {other:?}"))),
        };
        let bind_addr = get("BIND_ADDR")
            .unwrap_or_else(|| "127.0.0.1:8004".into())
            .parse()
            .map_err(|e| bad("BIND_ADDR", format!("not a socket address ({e})")))?;
        let mongodb_uri = get("MONGODB_URI");
        if let Some(uri) = &mongodb_uri {
            if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) {
                return Err(bad("MONGODB_URI", "must start with mongodb:// or mongodb+srv://"));
            }
        }
        let database_name = get("MONGODB_DATABASE").unwrap_or_else(|| "healthchat".into());
        if database_name.contains(['/', '\\', '.', ' ', '"', '$']) || database_name.len() > 63 {
            return Err(bad("MONGODB_DATABASE", "not a valid database name"));
        }
        let jwt_secret = get("JWT_SECRET");
        if let Some(s) = &jwt_secret {
            if s.len() < 32 {
                return Err(bad("JWT_SECRET", "must be at least 32 characters"));
            }
        } else if app_env == AppEnv::Production {
            return Err(bad("JWT_SECRET", "is required when APP_ENV=production"));
        }
        let access_token_ttl_secs = parse_num(&get, "ACCESS_TOKEN_TTL_SECS", 900, 30, 86_400)?;
        let refresh_token_ttl_days = parse_num(&get, "REFRESH_TOKEN_TTL_DAYS", 30, 1, 365)? as i64;
        let signin_max_days = parse_num(&get, "SIGNIN_MAX_DAYS", 90, 1, 3650)? as i64;
        let log_filter = get("RUST_LOG").unwrap_or_else(|| "info,server=debug,tower_http=info".into());
        tracing_subscriber::EnvFilter::try_new(&log_filter)
            .map_err(|e| bad("RUST_LOG", format!("not a valid filter ({e})")))?;
        let cors_origins: Vec<String> = get("CORS_ORIGINS")
            .map(|s| s.split(',').map(|o| o.trim().to_string()).filter(|o| !o.is_empty()).collect())
            .unwrap_or_default();
        for origin in &cors_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://"))
                || axum::http::HeaderValue::from_str(origin).is_err()
            {
                return Err(bad("CORS_ORIGINS", format!("{origin:?} is not an origin like https://example.com")));
            }
        }
        let data_dir = PathBuf::from(get("DATA_DIR").unwrap_or_else(|| "./data".into()));
        let cache = default_cache_dir();
        let embedded_db_bin =
            get("EMBEDDED_DB_BIN").map(PathBuf::from).unwrap_or_else(|| cache.join("venv/bin/secantusd-py"));
        let smtp_url = get("SMTP_URL");
        if let Some(url) = &smtp_url {
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                return Err(bad("SMTP_URL", "must start with smtp:// or smtps://"));
            }
        } else if app_env == AppEnv::Production {
            // Without it, codes would only reach the outbox folder on the server.
            return Err(bad("SMTP_URL", "is required when APP_ENV=production"));
        }
        let mail_from = get("MAIL_FROM").unwrap_or_else(|| "Health Coach <coach@localhost>".into());
        if mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(bad("MAIL_FROM", "not a mailbox like Coach <coach@example.com>"));
        }
        let llm = match get("LLM_BASE_URL") {
            Some(base_url) => {
                if reqwest::Url::parse(&base_url).is_err() {
                    return Err(bad("LLM_BASE_URL", "not a URL"));
                }
                LlmConfig::OpenAi {
                    base_url: base_url.trim_end_matches('/').to_string(),
                    api_key: get("LLM_API_KEY").map(SecretString::from),
                    model: get("LLM_MODEL").unwrap_or_else(|| "gpt-4o-mini".into()),
                }
            }
            None => LlmConfig::Local {
                model_path: get("LOCAL_MODEL_PATH")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| cache.join("model/SmolLM2-135M-Instruct.Q4_1.gguf")),
            },
        };
        let max_answer_tokens = parse_num(&get, "MAX_ANSWER_TOKENS", 256, 16, 8192)? as u32;
        let worker_threads = parse_num(&get, "WORKER_THREADS", 1, 1, 256)? as usize;
        let site_root = PathBuf::from(get("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".into()));
        let secure_cookies = parse_bool(&get, "SECURE_COOKIES", app_env == AppEnv::Production)?;
        let disable_rate_limits = parse_bool(&get, "DISABLE_RATE_LIMITS", false)?;
        let chat_limits = ChatLimitsConfig {
            concurrent_answers: parse_num(&get, "CHAT_CONCURRENT_ANSWERS", 2, 1, 100)? as usize,
            messages_per_minute: parse_num(&get, "CHAT_MESSAGES_PER_MINUTE", 20, 1, 10_000)? as usize,
            sockets: parse_num(&get, "CHAT_MAX_SOCKETS", 8, 1, 1_000)? as usize,
            resumes_per_minute: parse_num(&get, "CHAT_RESUMES_PER_MINUTE", 60, 1, 10_000)? as usize,
        };
        if disable_rate_limits && app_env == AppEnv::Production {
            return Err(bad("DISABLE_RATE_LIMITS", "cannot be set when APP_ENV=production"));
        }
        let count_db_writes = parse_bool(&get, "DB_COUNT_WRITES", false)?;
        let region = get("SAFETY_REGION").unwrap_or_else(|| "US".into());
        let mut safety_lines = crate::agent::SafetyLines::for_region(&region).ok_or_else(|| {
            bad(
                "SAFETY_REGION",
                format!("{region:?} has no defaults (US, CA, GB, EU, AU); set EMERGENCY_NUMBER and CRISIS_LINE"),
            )
        });
        if let (Err(_), Some(emergency), Some(crisis)) = (&safety_lines, get("EMERGENCY_NUMBER"), get("CRISIS_LINE")) {
            safety_lines =
                Ok(crate::agent::SafetyLines { emergency_number: emergency, crisis_line: crisis, poison_line: None });
        }
        let mut safety_lines = safety_lines?;
        if let Some(number) = get("EMERGENCY_NUMBER") {
            safety_lines.emergency_number = number;
        }
        if let Some(line) = get("CRISIS_LINE") {
            safety_lines.crisis_line = line;
        }
        if let Some(line) = get("POISON_LINE") {
            safety_lines.poison_line = Some(line);
        }
        let shutdown_grace = std::time::Duration::from_secs(parse_num(&get, "SHUTDOWN_GRACE_SECS", 20, 0, 600)?);
        let trusted_proxies = get("TRUSTED_PROXIES")
            .map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(|a| a.parse().map_err(|_| bad("TRUSTED_PROXIES", format!("{a:?} is not an IP address"))))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        Ok(Config {
            safety_lines,
            shutdown_grace,
            trusted_proxies,
            count_db_writes,
            app_env,
            bind_addr,
            mongodb_uri,
            database_name,
            jwt_secret: jwt_secret.map(SecretString::from),
            access_token_ttl_secs,
            refresh_token_ttl_days,
            signin_max_days,
            log_filter,
            cors_origins,
            data_dir,
            embedded_db_bin,
            smtp_url: smtp_url.map(SecretString::from),
            mail_from,
            llm,
            max_answer_tokens,
            worker_threads,
            site_root,
            secure_cookies,
            disable_rate_limits,
            chat_limits: (!disable_rate_limits).then_some(chat_limits),
        })
    }
}

fn parse_num(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(bad(var, format!("expected a whole number from {min} to {max}, got {v:?}"))),
        },
    }
}

fn parse_bool(get: &impl Fn(&str) -> Option<String>, var: &'static str, default: bool) -> Result<bool, ConfigError> {
    match get(var).as_deref() {
        None => Ok(default),
        Some("1" | "true" | "yes") => Ok(true),
        Some("0" | "false" | "no") => Ok(false),
        Some(v) => Err(bad(var, format!("expected true or false, got {v:?}"))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_serve_the_seed_port_on_the_embedded_database() {
        let c = Config::from_vars(&vars(&[])).unwrap();
        assert_eq!(c.bind_addr.to_string(), "127.0.0.1:8004");
        assert!(c.mongodb_uri.is_none());
        assert!(matches!(c.llm, LlmConfig::Local { .. }));
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (var, value) in [
            ("BIND_ADDR", "nowhere"),
            ("MONGODB_URI", "postgres://x"),
            ("CORS_ORIGINS", "example.com"),
            ("ACCESS_TOKEN_TTL_SECS", "-1"),
            ("APP_ENV", "staging"),
            ("SMTP_URL", "http://mail"),
            ("TRUSTED_PROXIES", "10.0.0.1, proxy.local"),
        ] {
            let err = Config::from_vars(&vars(&[(var, value)])).unwrap_err();
            assert_eq!(err.var, var);
            assert!(err.to_string().contains(var));
        }
    }

    #[test]
    fn production_requires_a_jwt_secret() {
        let err = Config::from_vars(&vars(&[("APP_ENV", "production")])).unwrap_err();
        assert_eq!(err.var, "JWT_SECRET");
    }

    #[test]
    fn production_requires_smtp() {
        let secret = "s".repeat(40);
        let err = Config::from_vars(&vars(&[("APP_ENV", "production"), ("JWT_SECRET", &secret)])).unwrap_err();
        assert_eq!(err.var, "SMTP_URL");
        assert!(err.to_string().contains("SMTP_URL"));
        let with_smtp = vars(&[("APP_ENV", "production"), ("JWT_SECRET", &secret), ("SMTP_URL", "smtp://mail:25")]);
        assert_eq!(Config::from_vars(&with_smtp).unwrap().app_env, AppEnv::Production);
        // Development keeps the outbox.
        assert!(Config::from_vars(&vars(&[])).unwrap().smtp_url.is_none());
    }
}
