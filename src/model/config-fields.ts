/** The fields every stored model configuration has: a name, the training image size, and its sections as objects. */
export function missingConfigFields(config: Record<string, unknown>, sections: readonly string[]): string[] {
  return [
    ...(typeof config.name === "string" ? [] : ["name"]),
    ...(Number.isInteger(config.imageSize) ? [] : ["imageSize"]),
    ...sections.filter((key) => typeof config[key] !== "object" || config[key] === null),
  ];
}
