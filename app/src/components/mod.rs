//! Pieces shared by several pages: the signed-in header, form fields with inline errors,
//! the sign-in guards, and the browser's calls to the REST auth endpoints.

pub mod field;
pub mod guard;
pub mod header;
pub mod rest;
