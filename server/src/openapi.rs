//! `GET /api/openapi.json`: the REST API described as OpenAPI 3.1 (written by hand next to
//! the routes it describes; `server/tests` checks every route is listed).

use axum::{routing::get, Json, Router};
use serde_json::{json, Value};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/openapi.json", get(|| async { Json(document()) }))
}

fn body(schema: &str) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn ok(schema: &str, description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn err(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn session_id() -> Value {
    json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } })
}

pub fn document() -> Value {
    let secured = json!([{ "bearer": [] }]);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Health Coach API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Accounts, health profile and chat sessions. Live answers stream over the WebSocket at /chat/ws (see docs/API.md)."
        },
        "servers": [{ "url": "http://127.0.0.1:8004" }],
        "paths": {
            "/health": { "get": { "summary": "Liveness and database status", "responses": {
                "200": ok("Health", "Healthy"), "503": ok("Health", "Database unreachable (status degraded)") } } },
            "/auth/signup": { "post": { "summary": "Create an unverified account and email a 6-digit code", "requestBody": body("SignupRequest"), "responses": {
                "200": ok("CodeSent", "Code sent"), "400": err("Invalid email, password or name"), "409": err("Email already registered"), "429": err("Rate limited (Retry-After)"), "503": err("Mail could not be sent") } } },
            "/auth/verify-email": { "post": { "summary": "Confirm the sign-up code; returns tokens", "requestBody": body("VerifyCodeRequest"), "responses": {
                "200": ok("TokenResponse", "Signed in (also sets HttpOnly cookies)"), "400": err("Wrong or expired code"), "429": err("Rate limited") } } },
            "/auth/signin": { "post": { "summary": "Check the password and email a sign-in code (same answer for unknown emails)", "requestBody": body("SigninRequest"), "responses": {
                "200": ok("CodeSent", "Code sent if the details were right"), "400": err("Invalid input"), "429": err("Rate limited") } } },
            "/auth/verify-signin": { "post": { "summary": "Confirm the sign-in code; returns tokens", "requestBody": body("VerifyCodeRequest"), "responses": {
                "200": ok("TokenResponse", "Signed in"), "400": err("Wrong or expired code"), "429": err("Rate limited") } } },
            "/auth/resend-code": { "post": { "summary": "Send a new code (once a minute)", "requestBody": body("ResendCodeRequest"), "responses": {
                "200": ok("CodeSent", "Sent if a code was waiting"), "429": err("Cooldown or rate limit") } } },
            "/auth/refresh": { "post": { "summary": "Rotate the refresh token (body or hc_refresh cookie)", "requestBody": { "required": false, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/RefreshRequest" } } } }, "responses": {
                "200": ok("TokenResponse", "New tokens"), "401": err("Unknown, expired, revoked or reused token") } } },
            "/auth/signout": { "post": { "summary": "Revoke the refresh token's family and clear cookies", "responses": { "200": ok("Message", "Signed out") } } },
            "/users/me": { "get": { "summary": "The signed-in user", "security": secured, "responses": { "200": ok("User", "The user"), "401": err("No or bad token") } } },
            "/users/me/profile": {
                "get": { "summary": "The health profile", "security": secured, "responses": { "200": ok("Profile", "The profile"), "401": err("No or bad token") } },
                "put": { "summary": "Replace the health profile", "security": secured, "requestBody": body("Profile"), "responses": {
                    "200": ok("Profile", "Saved"), "401": err("No or bad token"), "422": err("Field errors in `fields`") } }
            },
            "/chat/sessions": { "get": { "summary": "Active sessions, newest first", "security": secured, "parameters": [
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 100, "default": 20 } },
                    { "name": "cursor", "in": "query", "schema": { "type": "string" } } ],
                "responses": { "200": ok("SessionPage", "A page of sessions"), "401": err("No or bad token") } } },
            "/chat/sessions/{id}": {
                "get": { "summary": "A session with its messages (newest page first; `before` for older)", "security": secured, "parameters": [ session_id(),
                        { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 200, "default": 50 } },
                        { "name": "before", "in": "query", "schema": { "type": "string" } } ],
                    "responses": { "200": ok("SessionDetail", "The session"), "401": err("No or bad token"), "404": err("Not the caller's, deleted or unknown") } },
                "patch": { "summary": "Rename", "security": secured, "parameters": [ session_id() ], "requestBody": body("RenameSession"),
                    "responses": { "200": ok("SessionSummary", "Renamed"), "400": err("Empty or over-long title"), "404": err("Not found") } },
                "delete": { "summary": "Soft delete (restorable)", "security": secured, "parameters": [ session_id() ],
                    "responses": { "204": { "description": "Deleted" }, "404": err("Not found") } }
            },
            "/chat/sessions/{id}/restore": { "post": { "summary": "Undo a delete", "security": secured, "parameters": [ session_id() ],
                "responses": { "200": ok("SessionSummary", "Restored"), "404": err("Not a deleted session of the caller") } } },
            "/chat/sessions/{id}/export": { "get": { "summary": "Download a session", "security": secured, "parameters": [ session_id(),
                    { "name": "format", "in": "query", "schema": { "type": "string", "enum": ["json", "markdown"], "default": "json" } } ],
                "responses": { "200": { "description": "JSON or text/markdown attachment" }, "400": err("Unknown format"), "404": err("Not found") } } },
            "/chat/search": { "get": { "summary": "Search the caller's titles and messages", "security": secured, "parameters": [
                    { "name": "q", "in": "query", "required": true, "schema": { "type": "string", "minLength": 1, "maxLength": 200 } } ],
                "responses": { "200": ok("SearchResults", "Hits"), "400": err("Missing or over-long query") } } },
            "/chat/ws": { "get": { "summary": "WebSocket upgrade for live chat (token in ?token=, Bearer header or cookie)",
                "responses": { "101": { "description": "Switching protocols" }, "401": err("No or bad token") } } }
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } },
            "schemas": {
                "Error": { "type": "object", "required": ["error", "message"], "properties": { "error": { "type": "string" }, "message": { "type": "string" },
                    "fields": { "type": "array", "items": { "type": "object", "properties": { "field": { "type": "string" }, "message": { "type": "string" } } } } } },
                "Health": { "type": "object", "properties": { "status": { "type": "string", "enum": ["healthy", "degraded"] }, "agent": { "type": "string" }, "version": { "type": "string" }, "database": { "type": "string" } } },
                "SignupRequest": { "type": "object", "required": ["email", "password"], "properties": { "email": { "type": "string", "format": "email" }, "password": { "type": "string", "minLength": 8, "maxLength": 128 }, "name": { "type": "string", "maxLength": 80 } } },
                "SigninRequest": { "type": "object", "required": ["email", "password"], "properties": { "email": { "type": "string" }, "password": { "type": "string" } } },
                "VerifyCodeRequest": { "type": "object", "required": ["email", "code"], "properties": { "email": { "type": "string" }, "code": { "type": "string", "pattern": "^[0-9]{6}$" } } },
                "ResendCodeRequest": { "type": "object", "required": ["email", "purpose"], "properties": { "email": { "type": "string" }, "purpose": { "type": "string", "enum": ["signup", "signin"] } } },
                "RefreshRequest": { "type": "object", "properties": { "refresh_token": { "type": "string" } } },
                "CodeSent": { "type": "object", "properties": { "message": { "type": "string" }, "email": { "type": "string" }, "expires_in": { "type": "integer" } } },
                "Message": { "type": "object", "properties": { "message": { "type": "string" } } },
                "User": { "type": "object", "properties": { "id": { "type": "string" }, "email": { "type": "string" }, "name": { "type": ["string", "null"] }, "email_verified": { "type": "boolean" }, "created_at": { "type": "string", "format": "date-time" } } },
                "TokenResponse": { "type": "object", "properties": { "access_token": { "type": "string" }, "token_type": { "type": "string", "const": "bearer" }, "expires_in": { "type": "integer" }, "refresh_token": { "type": "string" }, "user": { "$ref": "#/components/schemas/User" } } },
                "Profile": { "type": "object", "properties": {
                    "age": { "type": ["integer", "null"], "minimum": 13, "maximum": 120 },
                    "fitness_level": { "type": ["string", "null"], "enum": ["beginner", "intermediate", "advanced", null] },
                    "goals": { "type": "array", "maxItems": 10, "items": { "type": "string", "maxLength": 120 } },
                    "health_notes": { "type": ["string", "null"], "maxLength": 2000 },
                    "units": { "type": "string", "enum": ["metric", "imperial"] },
                    "height_cm": { "type": ["number", "null"], "minimum": 50, "maximum": 272 },
                    "weight_kg": { "type": ["number", "null"], "minimum": 20, "maximum": 400 } } },
                "SessionSummary": { "type": "object", "properties": { "session_id": { "type": "string", "format": "uuid" }, "title": { "type": "string" }, "created_at": { "type": "string", "format": "date-time" }, "updated_at": { "type": "string", "format": "date-time" }, "is_active": { "type": "boolean" } } },
                "SessionPage": { "type": "object", "properties": { "sessions": { "type": "array", "items": { "$ref": "#/components/schemas/SessionSummary" } }, "next_cursor": { "type": ["string", "null"] } } },
                "MessageView": { "type": "object", "properties": { "message_id": { "type": "string" }, "session_id": { "type": "string" }, "message": { "type": "string" }, "response": { "type": "string" }, "message_type": { "type": "string" }, "created_at": { "type": "string", "format": "date-time" }, "response_time_ms": { "type": ["integer", "null"] }, "status": { "type": "string", "enum": ["pending", "complete", "stopped", "failed", "interrupted"] } } },
                "SessionDetail": { "type": "object", "properties": { "session": { "$ref": "#/components/schemas/SessionSummary" }, "messages": { "type": "array", "items": { "$ref": "#/components/schemas/MessageView" } }, "next_before": { "type": ["string", "null"] } } },
                "RenameSession": { "type": "object", "required": ["title"], "properties": { "title": { "type": "string", "minLength": 1, "maxLength": 120 } } },
                "SearchResults": { "type": "object", "properties": { "query": { "type": "string" }, "hits": { "type": "array", "items": { "type": "object", "properties": {
                    "session_id": { "type": "string" }, "title": { "type": "string" }, "message_id": { "type": ["string", "null"] }, "snippet": { "type": "string" }, "created_at": { "type": "string", "format": "date-time" } } } } } }
            }
        }
    })
}
