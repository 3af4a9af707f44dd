//! Template helpers. Formatting happens in the view models (plain, tested Rust); helpers only
//! do what templates cannot: the category icons, fixed inline SVGs.
//!
//! Each icon is drawn once per page (`{{icon_symbols}}`, as SVG symbols) and every entry
//! refers to it (`{{icon category}}`), rather than every entry carrying the whole drawing: a
//! 50-entry page is a fifth smaller, and the bytes it saves are bytes every view copies.

use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderErrorReason,
};

use crate::activity::Category;

pub fn register(registry: &mut Handlebars<'static>) {
    registry.register_helper("icon", Box::new(icon));
    registry.register_helper("icon_symbols", Box::new(icon_symbols));
}

/// `{{icon "communication"}}`: a reference to the category's icon symbol. Its output is made of
/// constants, never input, so it is written unescaped; an unknown name is a render error.
fn icon(
    helper: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let name = helper
        .param(0)
        .and_then(|param| param.value().as_str())
        .ok_or(RenderErrorReason::ParamNotFoundForIndex("icon", 0))?;
    if icon_paths(name).is_none() {
        return Err(RenderErrorReason::Other(format!("no icon named {name:?}")).into());
    }
    out.write(
        "<svg class=\"icon\" width=\"16\" height=\"16\" aria-hidden=\"true\" \
         focusable=\"false\"><use href=\"#icon-",
    )?;
    out.write(name)?;
    out.write("\"/></svg>")?;
    Ok(())
}

/// `{{icon_symbols}}`: every category's icon as a symbol, for `{{icon …}}` to refer to. Once
/// per page, before the first icon.
fn icon_symbols(
    _: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    out.write("<svg class=\"icon-symbols\" aria-hidden=\"true\" focusable=\"false\">")?;
    for category in Category::ALL {
        let name = category.as_str();
        let paths = icon_paths(name)
            .ok_or_else(|| RenderErrorReason::Other(format!("no icon named {name:?}")))?;
        out.write("<symbol id=\"icon-")?;
        out.write(name)?;
        out.write(
            "\" viewBox=\"0 0 16 16\" fill=\"none\" stroke=\"currentColor\" \
             stroke-width=\"1.6\" stroke-linecap=\"round\" stroke-linejoin=\"round\">",
        )?;
        out.write(paths)?;
        out.write("</symbol>")?;
    }
    out.write("</svg>")?;
    Ok(())
}

fn icon_paths(name: &str) -> Option<&'static str> {
    Some(match name {
        // A check mark in a rounded square: work moving along.
        "workflow" => {
            r#"<rect x="2" y="2" width="12" height="12" rx="3"/><path d="M5 8.2l2 2 4-4.4"/>"#
        }
        // An envelope.
        "communication" => {
            r#"<rect x="1.8" y="3.5" width="12.4" height="9" rx="1.5"/><path d="M2.5 4.5 8 8.6l5.5-4.1"/>"#
        }
        // A coin with a currency stroke.
        "accounting" => {
            r#"<circle cx="8" cy="8" r="6.2"/><path d="M10 5.8H7.2a1.2 1.2 0 0 0 0 2.4h1.6a1.2 1.2 0 0 1 0 2.4H6M8 4.4v7.2"/>"#
        }
        // A parcel.
        "purchasing" => r#"<path d="M2 5 8 2l6 3v6l-6 3-6-3z"/><path d="M2 5l6 3 6-3M8 8v6"/>"#,
        // A lightning bolt.
        "automation" => r#"<path d="M9 1.5 3.5 9H8l-1 5.5L12.5 7H8z"/>"#,
        // An information mark.
        "system" => r#"<circle cx="8" cy="8" r="6.2"/><path d="M8 7.3v4M8 4.8v.1"/>"#,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icons_exist_for_every_category_and_nothing_else() {
        let mut registry = Handlebars::new();
        register(&mut registry);
        let symbols = registry.render_template("{{icon_symbols}}", &()).unwrap();
        for category in Category::ALL {
            let svg = registry
                .render_template("{{icon c}}", &serde_json::json!({"c": category.as_str()}))
                .unwrap();
            assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
            let target = format!("#icon-{}", category.as_str());
            assert!(svg.contains(&format!("href=\"{target}\"")), "{svg}");
            assert!(symbols.contains(&format!("<symbol id=\"{}\"", &target[1..])));
        }
        let unknown = registry.render_template("{{icon c}}", &serde_json::json!({"c": "<script>"}));
        assert!(unknown.is_err());
    }
}
