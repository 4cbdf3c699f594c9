package envvars

import "github.com/toolforge-go/toolforge/internal/route"

// Request and response bodies of the envvars API.
type (
	CreateRequest struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	ListResponse struct {
		Envvars  []Envvar       `json:"envvars"`
		Messages route.Messages `json:"messages"`
	}
	EnvvarResponse struct {
		Envvar   Envvar         `json:"envvar"`
		Messages route.Messages `json:"messages"`
	}
	QuotaResponse struct {
		Quota    Quota          `json:"quota"`
		Messages route.Messages `json:"messages"`
	}
)

// Quota is how many variables the tool has and may have, and the space
// they take.
type Quota struct {
	Count    int `json:"count"`
	MaxCount int `json:"max_count"`
	Bytes    int `json:"bytes"`
	MaxBytes int `json:"max_bytes"`
	MaxValue int `json:"max_value_bytes"`
}
