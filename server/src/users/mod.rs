//! People: the `/users/me` routes, the user documents behind them, and the in-memory cache
//! of health profiles every turn reads.

pub mod profile_cache;
pub mod repo;
pub mod routes;

pub use profile_cache::ProfileCache;
pub use repo::{find_user, load_profile, save_profile, user_view};
pub use routes::router;
