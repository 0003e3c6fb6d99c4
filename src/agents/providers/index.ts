import type { Config } from "../../infra/config";
import { AnthropicProvider } from "./anthropic";
import { OfflineProvider } from "./offline";
import { OpenAIProvider } from "./openai";
import type { Provider } from "./types";

export type ProviderName = "offline" | "anthropic" | "openai";

/** The providers this installation can use, and which one `auto` means for text and for images. */
export class Providers {
  readonly offline = new OfflineProvider();
  readonly anthropic: AnthropicProvider | undefined;
  readonly openai: OpenAIProvider | undefined;
  #default: Config["aiProvider"];

  constructor(config: Pick<Config, "aiProvider" | "anthropic" | "openai">) {
    this.#default = config.aiProvider;
    this.anthropic = config.anthropic.apiKey ? new AnthropicProvider({ apiKey: config.anthropic.apiKey, baseUrl: config.anthropic.baseUrl }) : undefined;
    this.openai = config.openai.apiKey ? new OpenAIProvider({ apiKey: config.openai.apiKey, baseUrl: config.openai.baseUrl }) : undefined;
  }

  /** The text provider for a run: its request, else AI_PROVIDER; `auto` = Claude, else OpenAI, else offline. */
  text(requested?: string): Provider | { error: string } {
    const choice = requested && requested !== "auto" ? requested : this.#default;
    if (choice === "offline") return this.offline;
    if (choice === "anthropic") return this.anthropic ?? { error: "The anthropic provider needs ANTHROPIC_API_KEY." };
    if (choice === "openai") return this.openai ?? { error: "The openai provider needs OPENAI_API_KEY." };
    return this.anthropic ?? this.openai ?? this.offline;
  }

  /** The image provider: OpenAI when configured (and not forced offline), else the offline renderer. */
  image(requested?: string): Provider {
    const choice = requested && requested !== "auto" ? requested : this.#default;
    if (choice === "offline") return this.offline;
    return this.openai ?? this.offline;
  }

  /** True when `auto` resolves to the offline provider (the UI labels drafts as offline). */
  get offlineOnly(): boolean {
    return this.#default === "offline" || (!this.anthropic && !this.openai);
  }
}

export type { Provider };
