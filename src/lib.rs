//! Chronicle's engine: the domain, its events and their storage.
//!
//! Nothing here knows about Leptos or HTTP. The `app` crate calls these functions from
//! its server functions; the `server` crate wires them into the axum router and the CLI.
//! Every function that touches tenant data takes the account it acts for.

pub mod accounts;
pub mod activity;
pub mod bench;
pub mod boards;
pub mod cards;
pub mod comments;
pub mod error;
pub mod events;
pub mod identity;
pub mod inbox;
pub mod projects;
pub mod queue;
pub mod store;
pub mod testing;
pub mod validate;

pub use error::{Error, Result};
pub use store::{Engine, LogProtection, Store};
