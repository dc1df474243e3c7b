//! The `--allow-origin` option of `echo_server` and `wss_server`. Each includes it with
//! `#[path = "common/origin.rs"] mod origin;`.

use sockless::handshake::Origin;

/// Checks an `--allow-origin` value: an origin as `scheme://host[:port]`, or `null`.
pub fn allow_origin(value: String) -> Result<String, String> {
    if value != "null" && Origin::parse(&value).is_none() {
        return Err(format!(
            "bad --allow-origin value {value:?} (scheme://host[:port], or null)"
        ));
    }
    Ok(value)
}
