//! People: the `/users/me` routes, the user documents behind them, the in-memory cache of
//! health profiles every turn reads, and the account's export and deletion.

pub mod account;
pub mod profile_cache;
pub mod repo;
pub mod routes;

pub use profile_cache::ProfileCache;
pub use repo::{find_user, load_profile, save_profile, user_view};
pub use routes::router;
