/** The HTML entity tables the tokenizer's text cleaning decodes with (loaded by `assets.ts` or its browser twin). */

export interface HtmlEntityTables {
  /** Python's html.entities.html5: names with and without the trailing ";". */
  html5: Map<string, string>;
  /** "&NAME;" all-caps aliases that ftfy also decodes. */
  ftfyUppercase: Map<string, string>;
}

/** The entity tables from their JSON form (`{ html5, ftfy_uppercase }`, tools/oracles/html_entities.py). */
export function entityTablesFrom(parsed: {
  html5: Record<string, string>;
  ftfy_uppercase: Record<string, string>;
}): HtmlEntityTables {
  return {
    html5: new Map(Object.entries(parsed.html5)),
    ftfyUppercase: new Map(Object.entries(parsed.ftfy_uppercase)),
  };
}
