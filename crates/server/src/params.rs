//! Query-string parameters, parsed by hand so every mistake gets a clear
//! 400 instead of a framework rejection.

use crate::error::ApiError;

pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(query: Option<&str>) -> Params {
        Params(
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The last value given for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated parameter (`columns[]=a&columns[]=b`, or
    /// `columns=a,b`).
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        let bracket = format!("{name}[]");
        let values: Vec<String> = self
            .0
            .iter()
            .filter(|(k, _)| *k == bracket || k == name)
            .flat_map(|(_, v)| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .filter(|v| !v.is_empty())
            .collect();
        (!values.is_empty()).then_some(values)
    }

    pub fn int(&self, name: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::bad_request(format!(
                    "`{name}` must be a whole number from {min} to {max}, not `{}`",
                    v.chars().take(40).collect::<String>()
                ))),
            },
        }
    }
}

/// Parses an id from a path segment.
pub fn path_id(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`{}` is not an import id (a positive whole number)",
            text.chars().take(40).collect::<String>()
        ))
    })
}
