//! Memory across chats: facts a person states in a chat (an injury, a condition, a goal, a
//! preference, their schedule) are proposed by `extract` after each answer and kept per
//! person (`repo`); the profile page and `/users/me/memories` (`routes`) list them for
//! editing and deleting; every prompt carries them, from `cache` when this instance holds
//! them (a fact deleted through any instance never reaches the next prompt, and one added
//! anywhere reaches it). A deleted fact leaves only a hash of its words behind, so the same
//! sentence is never learned, or used, again.

pub mod cache;
pub mod extract;
pub mod repo;
pub mod routes;

pub use repo::{add, delete, for_prompt, learn, list, update};
