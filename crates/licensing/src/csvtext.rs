//! A small RFC 4180 reader that keeps line numbers, for error messages that point at the
//! operator's input. Quoted fields may contain commas, doubled quotes and line breaks.

/// One record: the 1-based line on which it starts, and its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub line: usize,
    pub fields: Vec<String>,
}

/// A syntax error: line and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub line: usize,
    pub message: String,
}

/// Split `text` into records. Blank lines are skipped. A UTF-8 BOM is ignored.
pub(crate) fn parse(text: &str) -> Result<Vec<Record>, SyntaxError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut field_was_quoted = false;
    let mut line = 1usize;
    let mut record_line = 1usize;
    let mut chars = text.chars().peekable();
    let mut record_has_content = false;
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' => {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        field.push('"');
                    } else {
                        in_quotes = false;
                    }
                }
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => {
                if !field.is_empty() || field_was_quoted {
                    return Err(SyntaxError {
                        line,
                        message: "a quote inside an unquoted field (quote the whole field and double inner quotes)".into(),
                    });
                }
                in_quotes = true;
                field_was_quoted = true;
                record_has_content = true;
            }
            ',' => {
                fields.push(std::mem::take(&mut field));
                field_was_quoted = false;
                record_has_content = true;
            }
            '\r' => {}
            '\n' => {
                if record_has_content || !field.is_empty() {
                    fields.push(std::mem::take(&mut field));
                    records.push(Record {
                        line: record_line,
                        fields: std::mem::take(&mut fields),
                    });
                }
                field_was_quoted = false;
                record_has_content = false;
                line += 1;
                record_line = line;
            }
            _ => {
                if field_was_quoted {
                    return Err(SyntaxError {
                        line,
                        message: "text after the closing quote of a field".into(),
                    });
                }
                if !record_has_content && field.is_empty() {
                    record_line = line;
                }
                field.push(c);
                record_has_content = true;
            }
        }
    }
    if in_quotes {
        return Err(SyntaxError {
            line: record_line,
            message: "a quoted field is not closed".into(),
        });
    }
    if record_has_content || !field.is_empty() {
        fields.push(field);
        records.push(Record {
            line: record_line,
            fields,
        });
    }
    Ok(records)
}

/// Quote a field when it needs it.
pub(crate) fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) || field.starts_with(' ') || field.ends_with(' ') {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// One CSV line (without the line break).
pub(crate) fn line<S: AsRef<str>>(fields: &[S]) -> String {
    fields
        .iter()
        .map(|f| quote(f.as_ref()))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_and_lines() {
        let r = parse("a,b\n\n\"x, y\",\"say \"\"hi\"\"\"\n\"multi\nline\",z\n").unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].line, 3);
        assert_eq!(r[1].fields, vec!["x, y", "say \"hi\""]);
        assert_eq!(r[2].line, 4);
        assert_eq!(r[2].fields[0], "multi\nline");
    }

    #[test]
    fn errors_have_lines() {
        let e = parse("a,b\n\"open\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse("a,b\nx\"y,z\n").unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn round_trip_quote() {
        let f = ["a, b", "c\"d", "plain"];
        let text = line(&f);
        let back = parse(&text).unwrap();
        assert_eq!(back[0].fields, f);
    }
}
