//! Markdown to HTML for the coach's answers, made safe to put into `inner_html`.
//!
//! The answer text comes from a model (and, through it, possibly from the user), so it is
//! untrusted. Rather than sanitising HTML after rendering, we filter the parser's events
//! before rendering: raw HTML becomes escaped text, only `http`, `https` and `mailto`
//! links survive (with `rel="noopener noreferrer nofollow"`), and images are never loaded
//! (they become a plain link labelled with their alt text). Everything else is rendered by
//! pulldown-cmark, which escapes text and code itself.

use pulldown_cmark::{CowStr, Event, LinkType, Options, Parser, Tag, TagEnd};

/// Renders `markdown` to HTML that is safe to insert with `inner_html`.
pub fn render(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let mut filter = Filter::default();
    let events = Parser::new_ext(markdown, options).map(|event| filter.map(event));
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

/// Whether a link target may be kept: absolute http(s) or mailto only. Relative links,
/// `javascript:`, `data:` and anything unusual become plain text.
pub fn is_safe_url(url: &str) -> bool {
    let url = url.trim_start().to_ascii_lowercase();
    url.starts_with("http://") || url.starts_with("https://") || url.starts_with("mailto:")
}

/// Escapes text for where Leptos writes it unescaped: the children of a `<textarea>`
/// during server rendering (a known Leptos behaviour). Line breaks are kept.
pub fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a double-quoted HTML attribute (control characters dropped).
fn escape_attr(value: &str) -> String {
    escape_text(&value.chars().filter(|c| !c.is_control()).collect::<String>())
}

fn anchor_open(url: &str, title: &str) -> String {
    let title = if title.is_empty() { String::new() } else { format!(" title=\"{}\"", escape_attr(title)) };
    format!("<a href=\"{}\"{title} rel=\"noopener noreferrer nofollow\" target=\"_blank\">", escape_attr(url))
}

/// Rewrites one event at a time; remembers, for each open link or image, whether its
/// closing tag must be rendered or dropped.
#[derive(Default)]
struct Filter {
    /// `true` when the matching end tag must close an `<a>` we opened.
    open: Vec<bool>,
}

impl Filter {
    fn map<'a>(&mut self, event: Event<'a>) -> Event<'a> {
        match event {
            // Raw HTML is shown, never interpreted.
            Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
            Event::Start(Tag::HtmlBlock) => Event::Start(Tag::Paragraph),
            Event::End(TagEnd::HtmlBlock) => Event::End(TagEnd::Paragraph),
            Event::Start(Tag::Link { link_type, dest_url, title, .. }) => {
                let url = if link_type == LinkType::Email && !dest_url.starts_with("mailto:") {
                    format!("mailto:{dest_url}")
                } else {
                    dest_url.to_string()
                };
                self.open_link(&url, &title, "")
            }
            Event::Start(Tag::Image { dest_url, title, .. }) => {
                // The alt text follows as text events; the image itself is never fetched.
                self.open_link(&dest_url, &title, "<span class=\"md-image\">Image: </span>")
            }
            Event::End(TagEnd::Link) | Event::End(TagEnd::Image) => {
                if self.open.pop().unwrap_or(false) {
                    Event::InlineHtml(CowStr::Borrowed("</a>"))
                } else {
                    Event::Text(CowStr::Borrowed(""))
                }
            }
            other => other,
        }
    }

    fn open_link<'a>(&mut self, url: &str, title: &str, prefix: &str) -> Event<'a> {
        let safe = is_safe_url(url);
        self.open.push(safe);
        let html = if safe { format!("{}{prefix}", anchor_open(url, title)) } else { prefix.to_string() };
        if html.is_empty() {
            Event::Text(CowStr::Borrowed(""))
        } else {
            Event::InlineHtml(CowStr::from(html))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Renders `markdown` and checks what the HTML holds and what it must not.
    fn renders(markdown: &str, holds: &[&str], lacks: &[&str]) {
        let html = render(markdown);
        for part in holds {
            assert!(html.contains(part), "{part:?} missing from {html}");
        }
        for part in lacks {
            assert!(!html.contains(part), "{part:?} found in {html}");
        }
    }

    #[test]
    fn text_area_contents_cannot_close_the_text_area() {
        let escaped = escape_text("a </textarea><img src=x onerror=alert(1)>\n\"b\" & 'c'");
        assert_eq!(escaped, "a &lt;/textarea&gt;&lt;img src=x onerror=alert(1)&gt;\n&quot;b&quot; &amp; &#39;c&#39;");
    }

    #[test]
    fn a_script_tag_is_shown_as_text() {
        renders("Hello <script>alert(1)</script> there", &["&lt;script&gt;alert(1)&lt;/script&gt;"], &["<script"]);
    }

    #[test]
    fn an_html_block_is_shown_as_text() {
        renders("<div onclick=\"x()\">\n<img src=x onerror=alert(1)>\n</div>", &["&lt;img"], &["<div", "<img"]);
    }

    #[test]
    fn a_javascript_link_is_dropped_but_its_text_kept() {
        renders("[click me](javascript:alert(1)) and [data](data:text/html,hi)", &["click me"], &["<a", "javascript:"]);
    }

    #[test]
    fn web_and_mail_links_are_kept_with_a_safe_rel() {
        renders(
            "[site](https://example.com/a?b=1&c=\"2\") <me@example.com>",
            &[
                "href=\"https://example.com/a?b=1&amp;c=&quot;2&quot;\"",
                "rel=\"noopener noreferrer nofollow\"",
                "href=\"mailto:me@example.com\"",
            ],
            &[],
        );
    }

    #[test]
    fn a_relative_link_becomes_text() {
        renders("[home](/signout)", &["home"], &["<a"]);
    }

    #[test]
    fn an_image_is_not_loaded_but_linked_by_its_alt_text() {
        renders(
            "![a chart](https://example.com/chart.png)",
            &["href=\"https://example.com/chart.png\"", "a chart"],
            &["<img"],
        );
    }

    #[test]
    fn a_table_renders() {
        renders(
            "| Day | Run |\n|-----|-----|\n| Mon | 20 min |\n",
            &["<table>", "<th>Day</th>", "<td>20 min</td>"],
            &[],
        );
    }

    #[test]
    fn lists_code_and_strikethrough_render() {
        renders(
            "- one\n- two\n\n`x < y`\n\n```\n<b>\n```\n\n~~old~~",
            &["<ul>", "<li>one</li>", "<code>x &lt; y</code>", "&lt;b&gt;", "<del>old</del>"],
            &[],
        );
    }
}
