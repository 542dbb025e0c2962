//! The built-in signatures. Each rule is matched against normalised text (lower case,
//! decoded, SQL comments removed, white space collapsed: see `decode.rs`), and adds its
//! score once per request when it matches any inspected input.
//!
//! Scores follow one scale: 5 is a signature that is an attack on its own (it blocks at
//! the default threshold); 3 and 2 are hints that only block together with another
//! (`<img` alone, `alert(` alone, a bare `1=1`, a trailing `--`). The rules are written
//! for booking forms: apostrophes in names (O'Brien), `#` and `-` in addresses, `<3` in
//! notes, "select a doctor", "drop-off" and Chinese text do not match.

use super::Class;

/// One signature.
#[derive(Debug)]
pub struct Rule {
    /// A stable id (`sqli-union`), in metrics, logs and the 403's `rules`.
    pub id: &'static str,
    /// The attack class.
    pub class: Class,
    /// What the rule adds to the request's anomaly score.
    pub score: u32,
    /// The pattern (the `regex` crate's syntax: no backtracking, linear time).
    pub pattern: &'static str,
}

const fn rule(id: &'static str, class: Class, score: u32, pattern: &'static str) -> Rule {
    Rule {
        id,
        class,
        score,
        pattern,
    }
}

/// Unix and Windows commands an injected command line starts with.
macro_rules! commands {
    () => {
        r"(?:cat|ls|id|whoami|uname|ifconfig|ipconfig|pwd|wget|curl|nc|ncat|netcat|bash|sh|zsh|dash|python[23]?|perl|ruby|php|rm|chmod|chown|echo|nslookup|dig|ping|powershell|cmd|net|systeminfo|certutil|bitsadmin|tasklist|telnet|base64|sudo|crontab|passwd|sleep|timeout)"
    };
}

/// The rule set, in a fixed order (its index is the `RegexSet` index).
pub static RULES: &[Rule] = &[
    // --- SQL injection ---
    rule(
        "sqli-union-select",
        Class::Sqli,
        5,
        r"\bunion(?:\s|\(|\ball\b|\bdistinct\b)*\bselect\b",
    ),
    rule(
        "sqli-quote-tautology",
        Class::Sqli,
        5,
        r#"['"`]\s*\)*\s*(?:\bor\b|\band\b|\bxor\b|\|\||&&)\s*\(*\s*['"\w]+\s*(?:=|<>|!=|<|>|\blike\b|\bis\b|\bbetween\b|\bin\s*\()"#,
    ),
    rule(
        "sqli-quote-comment",
        Class::Sqli,
        5,
        r#"['"`]\s*\)*\s*(?:--|#|;\s*--|;\s*$)"#,
    ),
    rule(
        "sqli-stacked-query",
        Class::Sqli,
        5,
        r";\s*(?:drop\s+(?:table|database|schema|user)|alter\s+(?:table|user)|truncate\s+table|create\s+(?:table|user|function|procedure)|insert\s+into|update\s+\w+\s+set|delete\s+from|exec(?:ute)?\b|declare\s+@|shutdown\b|select\s+(?:\*|@|\w+\s*\(|pg_sleep))",
    ),
    rule(
        "sqli-select-probe",
        Class::Sqli,
        5,
        r"\bselect\s*(?:\*|@@\w|null\b|\d+\s*,|\(|(?:count|concat|group_concat|char|version|user|database|current_user|schema_name|table_name|column_name|password|substring)\b)",
    ),
    rule(
        "sqli-select-from-where",
        Class::Sqli,
        3,
        r"\bselect\b.{1,80}\bfrom\b.{1,60}\bwhere\b",
    ),
    rule(
        "sqli-time-or-file-function",
        Class::Sqli,
        5,
        r"\b(?:sleep\s*\(\s*\d|benchmark\s*\(\s*\d|pg_sleep\s*\(|waitfor\s+delay\b|load_file\s*\(|into\s+(?:out|dump)file\b|extractvalue\s*\(|updatexml\s*\(|dbms_pipe\.|utl_http\.|xp_cmdshell\b|sp_executesql\b|sp_oacreate\b)",
    ),
    rule(
        "sqli-catalog",
        Class::Sqli,
        5,
        r"\b(?:information_schema|pg_catalog|sysobjects|sys\.objects|mysql\.user|sqlite_master|all_tables|@@version|@@datadir)\b",
    ),
    rule(
        "sqli-boolean-blind",
        Class::Sqli,
        5,
        r"\b(?:and|or|xor|having|where)\s+\(*\s*(?:\d+\s*(?:=|<>|!=|<|>)\s*\d+|\(?\s*select\b|(?:not\s+)?exists\s*\(|substr(?:ing)?\s*\(|ascii\s*\(|if\s*\(|case\s+when\b|length\s*\()",
    ),
    rule(
        "sqli-char-concat",
        Class::Sqli,
        3,
        r"\b(?:char|chr|concat(?:_ws)?|group_concat|unhex|cast|convert)\s*\(.{0,40}(?:\d\s*,|\bas\b|select)",
    ),
    rule(
        "sqli-order-by-probe",
        Class::Sqli,
        3,
        r"\b(?:order|group)\s+by\s+\d+\s*(?:--|#|$)",
    ),
    rule(
        "sqli-subquery",
        Class::Sqli,
        5,
        r"(?:\|\||\bor\b|\band\b|=|,)\s*\(\s*select\b",
    ),
    rule("sqli-bare-tautology", Class::Sqli, 2, r"\b\d+\s*=\s*\d+\b"),
    rule("sqli-trailing-comment", Class::Sqli, 2, r"(?:--|#)\s*$"),
    rule("sqli-hex-literal", Class::Sqli, 2, r"\b0x[0-9a-f]{8,}\b"),
    // --- Cross-site scripting ---
    rule("xss-script-tag", Class::Xss, 5, r"<\s*/?\s*script\b"),
    rule(
        "xss-event-handler",
        Class::Xss,
        5,
        r#"(?:<[a-z!/][^>]*|['"`/]\s*)\bon[a-z]{3,}\s*="#,
    ),
    rule(
        "xss-known-handler",
        Class::Xss,
        5,
        r"\bon(?:load|error|focus|focusin|blur|click|dblclick|auxclick|contextmenu|mouse[a-z]+|key[a-z]+|pointer[a-z]+|touch[a-z]+|animation[a-z]+|transition[a-z]+|toggle|start|begin|end|change|input|submit|scroll|wheel|drag[a-z]*|drop|copy|paste|cut|play|pause|ended|message|resize|unload|beforeunload|hashchange|popstate|pageshow|search|invalid|reset|abort)\s*=",
    ),
    rule(
        "xss-javascript-uri",
        Class::Xss,
        5,
        r"\b(?:j[\s;]*a[\s;]*v[\s;]*a|v[\s;]*b|l[\s;]*i[\s;]*v[\s;]*e)[\s;]*s[\s;]*c[\s;]*r[\s;]*i[\s;]*p[\s;]*t[\s;]*:",
    ),
    rule(
        "xss-dangerous-tag",
        Class::Xss,
        3,
        r"<\s*/?\s*(?:iframe|frame|frameset|object|embed|applet|svg|math|img|image|body|video|audio|source|details|marquee|link|meta|base|form|input|button|style|isindex|textarea|select|keygen|template|xmp|noscript)\b",
    ),
    rule(
        "xss-break-out",
        Class::Xss,
        5,
        r#"['"`]\s*/?>\s*<\s*/?\s*[a-z]"#,
    ),
    rule(
        "xss-data-uri",
        Class::Xss,
        5,
        r"\bdata\s*:\s*(?:text/html|image/svg\+xml|application/(?:x-)?javascript|[^,]{0,40};\s*base64)",
    ),
    rule(
        "xss-js-sink",
        Class::Xss,
        3,
        r"\b(?:alert|prompt|confirm|eval|settimeout|setinterval|atob|fetch)\s*(?:\(|`)|\bdocument\s*\.\s*(?:cookie|domain|write|location)|\bwindow\s*\.\s*(?:location|name|open)|\.\s*innerhtml\b|\bstring\s*\.\s*fromcharcode\b|\bconstructor\s*\(",
    ),
    rule(
        "xss-style-attack",
        Class::Xss,
        5,
        r"\bexpression\s*\(|-moz-binding\s*:|\bsrcdoc\s*=|\bformaction\s*=|\bxlink:href\s*=",
    ),
    // --- Path traversal ---
    rule(
        "traversal-dot-dot",
        Class::Traversal,
        5,
        r"(?:^|[/\\=:])\.{2,}[/\\]|[/\\]\.{2,}(?:[/\\]|$)",
    ),
    rule(
        "traversal-sensitive-file",
        Class::Traversal,
        5,
        r"(?:[/\\]etc[/\\](?:passwd|shadow|group|hosts|issue|sudoers|crontab)|/proc/(?:self|\d+)/|/var/log/|boot\.ini\b|win\.ini\b|\\windows\\|\bsystem32\b|\.htaccess\b|\.htpasswd\b|/\.ssh/|\bid_rsa\b|\bweb\.config\b|(?:^|/)\.env\b|\bwp-config\.php\b|/\.git/)",
    ),
    rule(
        "traversal-scheme",
        Class::Traversal,
        5,
        r"\b(?:file|php|zip|phar|expect|glob|gopher|dict|jar)://",
    ),
    rule(
        "traversal-windows-root",
        Class::Traversal,
        5,
        r"\b[a-z]:[\\/]+(?:windows|winnt|boot|users|inetpub|program)",
    ),
    // --- Command injection ---
    rule(
        "cmdi-chained-command",
        Class::Cmdi,
        5,
        concat!(
            r"(?:[;&|`]|\$\()\s*",
            commands!(),
            r#"(?:\s*$|\s*[;&|`)<>]|\s+[-/~$.'"\\]|\s+[\w-]+\.[a-z][\w.-]+|\.exe\b|\$\{?ifs)"#
        ),
    ),
    rule(
        "cmdi-substitution",
        Class::Cmdi,
        5,
        concat!(r"\$\(\s*", commands!(), r"\b|`\s*", commands!(), r"\b"),
    ),
    rule("cmdi-ifs", Class::Cmdi, 5, r"\$\{?ifs\b"),
    rule(
        "cmdi-shell-path",
        Class::Cmdi,
        5,
        r"(?:^|[\s;&|`(=<>])(?:/usr)?/s?bin/\w+|\bcmd(?:\.exe)?\s+/[ck]\b|\bpowershell(?:\.exe)?\s+-\w|/dev/(?:tcp|udp)/|[;&|]\s*net\s+(?:user|localgroup|view|share)\b|[;&|]\s*chmod\s+[0-7+]",
    ),
    rule(
        "cmdi-pipe-to-shell",
        Class::Cmdi,
        5,
        r"\|\s*(?:ba|z|da)?sh\b|\b(?:wget|curl)\s+(?:-\w+\s+)*https?://|>\s*/(?:tmp|dev|var|etc)/",
    ),
    rule(
        "cmdi-sleep-delay",
        Class::Cmdi,
        5,
        r"[;&|`]\s*(?:sleep|timeout)\s+\d+\s*(?:$|[;&|`#])|[;&|]\s*ping\s+-[cn]\s*\d",
    ),
    rule(
        "cmdi-jndi-lookup",
        Class::Cmdi,
        5,
        r"\$\{\s*(?:jndi|lower|upper|env|sys|java|::-[a-z])\s*:",
    ),
];
