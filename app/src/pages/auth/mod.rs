//! Sign-up, sign-in and the two "enter the code from the email" steps. Each is a real
//! `<form>` posting JSON to `/auth/*` from the browser; the typed email travels between
//! the steps in the `?email=` query parameter.

mod form;
mod signin;
mod signup;
mod verify;

pub use signin::SigninPage;
pub use signup::SignupPage;
pub use verify::{VerifySigninPage, VerifySignupPage};
