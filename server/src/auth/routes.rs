//! `/auth/*`: sign-up and sign-in with emailed codes, token refresh and sign-out.

use std::net::IpAddr;

use app::wire::ApiError;
use app::{
    validation::{self, Checks},
    wire::auth::{
        CodeSent, MessageResponse, RefreshRequest, ResendCodeRequest, SigninRequest, SignupRequest, TokenResponse,
        VerifyCodeRequest,
    },
};
use axum::{
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use lettre::message::Mailbox;
use mongodb::bson::{doc, oid::ObjectId, DateTime};

use crate::{
    auth::{
        client_ip::{self, ClientIp},
        codes, cookies,
        domain::{parse_code, Email, Password},
        password, rate_limit, refresh, signins, AuthUser,
    },
    db::models::UserDoc,
    error::{AppError, AppJson, AppResult},
    mail::{self, CodePurpose, Outgoing},
    openapi::responses::{CodeMailed, CodeVerification, CrossSite, Internal, Overloaded, RateLimited},
    state::AppState,
    users::user_view,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/signup", post(signup))
        .route("/auth/verify-email", post(verify_email))
        .route("/auth/signin", post(signin))
        .route("/auth/verify-signin", post(verify_signin))
        .route("/auth/resend-code", post(resend_code))
        .route("/auth/refresh", post(refresh_tokens))
        .route("/auth/signout", post(signout))
}

/// The answers of sign-up, sign-in and resend. Each handler gives one answer whatever the
/// account's state (unknown, unconfirmed, confirmed, in the resend cooldown, over the mail
/// limit), so these answers cannot be used to learn who has an account.
const SIGNUP_SENT: &str = "We emailed you a 6-digit code to confirm your address.";
const SIGNIN_SENT: &str = "If the email and password are right, a 6-digit sign-in code is on its way.";
const RESEND_SENT: &str = "If there is a code waiting for this email, a new one is on its way.";

async fn limit_ip(state: &AppState, endpoint: &str, ip: IpAddr) -> AppResult<()> {
    let key = format!("{endpoint}:{}", client_ip::limit_key(ip));
    rate_limit::check(&state.db, state.config.disable_rate_limits, "ip", &key, rate_limit::PER_IP).await
}

/// Counts one mail to `email`; false when over the per-email limit (nothing is sent then,
/// and nobody is told).
async fn may_mail(state: &AppState, email: &Email) -> AppResult<bool> {
    let limit = rate_limit::SEND_PER_EMAIL;
    let allowed = rate_limit::allow(&state.db, state.config.disable_rate_limits, "send", email.as_str(), limit).await?;
    if !allowed {
        tracing::debug!("per-email mail limit reached; nothing sent");
    }
    Ok(allowed)
}

/// Issues a fresh code and mails it off the request path, when one is due: not inside the
/// resend cooldown (the code sent then still works) and under the per-email mail limit.
/// Otherwise nothing is sent, silently: callers answer the same either way.
async fn mail_code(state: &AppState, email: &Email, to: Mailbox, purpose: CodePurpose) -> AppResult<()> {
    if !codes::due(&state.db, email.as_str(), purpose).await? || !may_mail(state, email).await? {
        return Ok(());
    }
    let code = codes::issue(&state.db, &state.keys, email.as_str(), purpose).await?;
    state.mailer.send_in_background(Outgoing::code(to, purpose, &code));
    Ok(())
}

/// The checks both verify endpoints share: limits, input shape, and the code itself.
///
/// Wrong codes count per email *and* address: a guesser is held back (429) where it
/// guesses, while the owner, elsewhere, can still use the right code (which each code
/// allows until `codes::MAX_ATTEMPTS` wrong tries in all). A try is counted before the
/// code is compared, so parallel guesses cannot slip past, and a right code is taken back.
async fn check_code(state: &AppState, ip: IpAddr, body: &VerifyCodeRequest, purpose: CodePurpose) -> AppResult<Email> {
    limit_ip(state, "verify", ip).await?;
    let email = Email::parse(&body.email)?;
    let code = parse_code(&body.code)?;
    // Named `scope:email:address:window`, like every per-email window (see users::account).
    let key = format!("{}:{}", email.as_str(), client_ip::limit_key(ip));
    let limit = rate_limit::WRONG_CODES_PER_EMAIL_AND_IP;
    let counted = rate_limit::take(&state.db, state.config.disable_rate_limits, "wrong-code", &key, limit).await?;
    codes::verify(&state.db, &state.keys, email.as_str(), purpose, &code).await?;
    rate_limit::refund(&state.db, counted).await?;
    Ok(email)
}

fn code_sent(email: &Email, message: &str) -> Json<CodeSent> {
    Json(CodeSent { message: message.into(), email: email.as_str().into(), expires_in: codes::CODE_TTL_SECS as u64 })
}

/// Create an unverified account (or refresh an unconfirmed one) and email a 6-digit code
///
/// The same answer for every email: a confirmed account's owner is mailed a notice instead
/// of a code, and nothing changes.
#[utoipa::path(post, path = "/auth/signup", tag = "auth", request_body = SignupRequest, responses(CodeMailed, Overloaded))]
#[tracing::instrument(skip_all)]
async fn signup(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AppJson(body): AppJson<SignupRequest>,
) -> AppResult<Json<CodeSent>> {
    limit_ip(&state, "signup", ip).await?;
    let mut checks = Checks::default();
    let email = Email::check(&mut checks, &body.email);
    let password = Password::check(&mut checks, &body.password);
    let name = checks.take(validation::name(body.name.as_deref()));
    checks.finish().map_err(AppError::from)?;
    let (Some(email), Some(password), Some(name)) = (email, password, name) else {
        return Err(AppError::internal("passing checks returned no value"));
    };
    let to = mail::recipient(email.as_str())?;
    let answer = code_sent(&email, SIGNUP_SENT);

    // Hashed whatever the account's state, so a confirmed email takes as long as a new one.
    let hash = password::hash(password.as_str().to_string()).await?;
    let existing = state.db.users.find_one(doc! { "email": email.as_str() }).await?;
    match existing {
        // Answered like a new sign-up; the owner hears of it by mail, with no code.
        Some(user) if user.email_verified => {
            if may_mail(&state, &email).await? {
                state.mailer.send_in_background(Outgoing::signup_notice(to));
            }
            return Ok(answer);
        }
        // An unconfirmed sign-up may be repeated (a lost code, a forgotten password).
        Some(user) => {
            state
                .db
                .users
                .update_one(doc! { "_id": user.id }, doc! { "$set": { "password_hash": &hash, "name": &name } })
                .await?;
        }
        None => {
            let user = UserDoc {
                id: ObjectId::new(),
                email: email.as_str().into(),
                password_hash: hash,
                name,
                email_verified: false,
                profile: Default::default(),
                created_at: DateTime::now(),
            };
            match state.db.users.insert_one(user).await {
                Ok(_) => {}
                // A sign-up for the same email won the race and mails the code.
                Err(e) if crate::error::is_duplicate_key(&e) => return Ok(answer),
                Err(e) => return Err(e.into()),
            }
        }
    }
    mail_code(&state, &email, to, CodePurpose::Signup).await?;
    Ok(answer)
}

/// Confirm the sign-up code: the account is verified and signed in (tokens in the body and as HttpOnly cookies)
#[utoipa::path(post, path = "/auth/verify-email", tag = "auth", request_body = VerifyCodeRequest, responses(CodeVerification))]
#[tracing::instrument(skip_all)]
async fn verify_email(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AppJson(body): AppJson<VerifyCodeRequest>,
) -> AppResult<Response> {
    verify(&state, ip, &body, CodePurpose::Signup).await
}

/// Check the password and email a sign-in code (the same answer for unknown emails and wrong passwords)
///
/// Also the same answer for the right password while the last sign-in code is under a
/// minute old: no new mail then, and that code still works.
#[utoipa::path(post, path = "/auth/signin", tag = "auth", request_body = SigninRequest, responses(CodeMailed, Overloaded))]
#[tracing::instrument(skip_all)]
async fn signin(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AppJson(body): AppJson<SigninRequest>,
) -> AppResult<Json<CodeSent>> {
    limit_ip(&state, "signin", ip).await?;
    let email = Email::parse(&body.email)?;
    if body.password.is_empty() || body.password.len() > 512 {
        return Err(AppError::BadRequest("Enter your password.".into()));
    }
    let to = mail::recipient(email.as_str())?;
    let user = state.db.users.find_one(doc! { "email": email.as_str() }).await?;
    // Against a dummy hash when there is no user: the same time as a wrong password.
    let verified = password::verify(body.password, user.as_ref().map(|u| u.password_hash.clone())).await?;
    match user {
        Some(user) if verified && user.email_verified => mail_code(&state, &email, to, CodePurpose::Signin).await?,
        _ => {}
    }
    Ok(code_sent(&email, SIGNIN_SENT))
}

/// Confirm the sign-in code (tokens in the body and as HttpOnly cookies)
#[utoipa::path(post, path = "/auth/verify-signin", tag = "auth", request_body = VerifyCodeRequest, responses(CodeVerification))]
#[tracing::instrument(skip_all)]
async fn verify_signin(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AppJson(body): AppJson<VerifyCodeRequest>,
) -> AppResult<Response> {
    verify(&state, ip, &body, CodePurpose::Signin).await
}

/// Both verify endpoints: the code, then the account it confirms (sign-up) or signs in to.
async fn verify(state: &AppState, ip: IpAddr, body: &VerifyCodeRequest, purpose: CodePurpose) -> AppResult<Response> {
    let email = check_code(state, ip, body, purpose).await?;
    let users = &state.db.users;
    let user = match purpose {
        CodePurpose::Signup => {
            users
                .find_one_and_update(doc! { "email": email.as_str() }, doc! { "$set": { "email_verified": true } })
                .return_document(mongodb::options::ReturnDocument::After)
                .await?
        }
        CodePurpose::Signin => users.find_one(doc! { "email": email.as_str(), "email_verified": true }).await?,
    };
    let user =
        user.ok_or_else(|| AppError::BadRequest("The code is wrong or has expired. Ask for a new one.".into()))?;
    signed_in(state, &user).await
}

/// Sends a fresh code. For sign-in this only works after a correct password (which left
/// a code behind), so it cannot be used to mail codes to strangers.
/// Send a new code if one is waiting (at most once a minute)
#[utoipa::path(post, path = "/auth/resend-code", tag = "auth", request_body = ResendCodeRequest, responses(CodeMailed))]
#[tracing::instrument(skip_all)]
async fn resend_code(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AppJson(body): AppJson<ResendCodeRequest>,
) -> AppResult<Json<CodeSent>> {
    limit_ip(&state, "resend", ip).await?;
    let email = Email::parse(&body.email)?;
    let purpose = CodePurpose::parse(&body.purpose)
        .ok_or_else(|| AppError::BadRequest("purpose must be signup or signin.".into()))?;
    let to = mail::recipient(email.as_str())?;
    let eligible = match purpose {
        CodePurpose::Signup => {
            state.db.users.find_one(doc! { "email": email.as_str(), "email_verified": false }).await?.is_some()
        }
        CodePurpose::Signin => codes::exists(&state.db, email.as_str(), purpose).await?,
    };
    if eligible {
        mail_code(&state, &email, to, purpose).await?;
    }
    Ok(code_sent(&email, RESEND_SENT))
}

/// The refresh token from the body (API clients) or the cookie (browsers).
fn presented_refresh(headers: &HeaderMap, body: Option<RefreshRequest>) -> Option<String> {
    body.and_then(|b| b.refresh_token)
        .filter(|t| !t.is_empty())
        .or_else(|| cookies::get(headers, cookies::REFRESH).map(str::to_string))
}

/// Body is optional: browsers send nothing but the cookie.
async fn optional_body(body: axum::body::Bytes) -> AppResult<Option<RefreshRequest>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value = serde_json::from_slice(&body).map_err(|e| AppError::BadRequest(format!("Invalid JSON body: {e}")))?;
    crate::error::object(value).map(Some)
}

/// Rotate the refresh token (from the body, or the `hc_refresh` cookie when the body is empty)
#[utoipa::path(
    post,
    path = "/auth/refresh",
    tag = "auth",
    request_body(content = Option<RefreshRequest>, description = "Optional: browsers send only the cookie", content_type = "application/json"),
    responses(
        (status = 200, description = "New tokens (also set as cookies)", body = TokenResponse),
        (status = 400, description = "A body that is not JSON of this shape (`bad_request`)", body = ApiError),
        (status = 401, description = "No, unknown, expired, revoked or reused refresh token, or the account is gone (`unauthorized`)", body = ApiError,
            headers(("WWW-Authenticate" = String, description = "Always `Bearer`"))),
        CrossSite,
        RateLimited,
        Internal,
    )
)]
#[tracing::instrument(skip_all)]
async fn refresh_tokens(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    limit_ip(&state, "refresh", ip).await?;
    let token = presented_refresh(&headers, optional_body(body).await?)
        .ok_or_else(|| AppError::Unauthorized("No refresh token was sent.".into()))?;
    let rotated = refresh::rotate(&state.db, &state.signins, &token, state.config.refresh_token_ttl_days).await?;
    let user = crate::users::find_user(&state.db, &rotated.user_id).await?;
    token_response(&state, &user, &rotated.signin_id, rotated.refresh_token)
}

/// Revoke the refresh token's family (body or cookie) and clear the cookies
#[utoipa::path(
    post,
    path = "/auth/signout",
    tag = "auth",
    request_body(content = Option<RefreshRequest>, description = "Optional: browsers send only the cookie", content_type = "application/json"),
    responses(
        (status = 200, description = "Signed out (also without a token)", body = MessageResponse),
        (status = 400, description = "A body that is not JSON of this shape (`bad_request`)", body = ApiError),
        CrossSite,
        Internal,
    )
)]
#[tracing::instrument(skip_all)]
async fn signout(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    // The sign-in of the refresh token and of the access token (a Bearer client may send
    // only the latter): both end, and with them every token and socket of that sign-in.
    let mut ended = Vec::new();
    if let Some(token) = presented_refresh(&headers, optional_body(body).await?) {
        ended.extend(refresh::signin_of(&state.db, &token).await?);
    }
    if let Ok(user) = AuthUser::from_headers(&state, &headers, &uri).await {
        ended.push(user.signin_id);
    }
    for signin_id in ended {
        state.signins.end(&state.db, &signin_id).await?;
    }
    let mut response = Json(MessageResponse { message: "Signed out.".into() }).into_response();
    cookies::append_clear(response.headers_mut(), state.config.secure_cookies);
    Ok(response)
}

async fn signed_in(state: &AppState, user: &UserDoc) -> AppResult<Response> {
    let user_id = user.id.to_hex();
    let (signin_id, signin_end) = signins::start(&state.db, &user_id, state.config.signin_max_days).await?;
    let refresh =
        refresh::create(&state.db, &user_id, &signin_id, state.config.refresh_token_ttl_days, signin_end).await?;
    token_response(state, user, &signin_id, refresh)
}

/// The token body for API clients plus the same tokens as cookies for browsers.
fn token_response(state: &AppState, user: &UserDoc, signin_id: &str, refresh_token: String) -> AppResult<Response> {
    let access_token = state.keys.issue(&user.id.to_hex(), signin_id)?;
    let mut response = Json(TokenResponse {
        access_token: access_token.clone(),
        token_type: "bearer".into(),
        expires_in: state.keys.ttl_secs,
        refresh_token: refresh_token.clone(),
        user: user_view(user),
    })
    .into_response();
    cookies::append_session(
        response.headers_mut(),
        &access_token,
        state.keys.ttl_secs,
        &refresh_token,
        state.config.refresh_token_ttl_days,
        state.config.secure_cookies,
    );
    Ok(response)
}
