package server

import (
	"github.com/toolforge-go/toolforge/internal/envvars"
	"net/http"
	"strconv"

	"github.com/toolforge-go/toolforge/internal/route"
)

// maxBody leaves room for a 1 MiB value escaped in JSON (up to 6 bytes a
// character), so that an oversized value gets ValidateValue's message.
const maxBody = 6*envvars.MaxValue + 4096

const base = "/envvars/v1/tool/{tool}"

// Routes are the envvars API's paths (SPEC §7).
func (s *Store) Routes() []route.Route {
	return []route.Route{
		{Method: http.MethodGet, Path: base + "/envvars", Summary: "List the tool's envvars (values only with show_values=true)",
			Query:    []route.Param{{Name: "show_values", Type: "boolean", Description: "include the values"}},
			Response: envvars.ListResponse{}, Handle: s.handleList},
		{Method: http.MethodPost, Path: base + "/envvars", Summary: "Create or replace an envvar", Request: envvars.CreateRequest{}, Response: envvars.EnvvarResponse{}, Handle: s.handleCreate},
		{Method: http.MethodGet, Path: base + "/envvars/{name}", Summary: "Show an envvar and its value", Response: envvars.EnvvarResponse{}, Handle: s.handleGet},
		{Method: http.MethodDelete, Path: base + "/envvars/{name}", Summary: "Delete an envvar; the answer holds it as it was", Response: envvars.EnvvarResponse{}, Handle: s.handleDelete},
		{Method: http.MethodGet, Path: base + "/quota", Summary: "Show how many envvars the tool has and may have", Response: envvars.QuotaResponse{}, Handle: s.handleQuota},
	}
}

func (s *Store) handleList(w http.ResponseWriter, r *route.Request) error {
	show := false
	if v := r.URL.Query().Get("show_values"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return route.BadRequest("show_values=%q: want true or false", v)
		}
		show = b
	}
	list, err := s.List(r.Context(), r.Tool, show)
	if err != nil {
		return err
	}
	return route.WriteJSON(w, http.StatusOK, envvars.ListResponse{Envvars: list, Messages: route.NewMessages()})
}

func (s *Store) handleCreate(w http.ResponseWriter, r *route.Request) error {
	var req envvars.CreateRequest
	if err := route.DecodeJSON(r, maxBody, &req); err != nil {
		return err
	}
	created, err := s.Set(r.Context(), r.Tool, req.Name, req.Value)
	if err != nil {
		return err
	}
	m := route.NewMessages()
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		m.Infof("envvar %s created", req.Name)
	} else {
		m.Infof("envvar %s updated", req.Name)
	}
	return route.WriteJSON(w, status, envvars.EnvvarResponse{Envvar: envvars.Envvar(req), Messages: m})
}

func (s *Store) handleGet(w http.ResponseWriter, r *route.Request) error {
	e, err := s.Get(r.Context(), r.Tool, r.Param("name"))
	if err != nil {
		return err
	}
	return route.WriteJSON(w, http.StatusOK, envvars.EnvvarResponse{Envvar: *e, Messages: route.NewMessages()})
}

func (s *Store) handleDelete(w http.ResponseWriter, r *route.Request) error {
	deleted, err := s.Delete(r.Context(), r.Tool, r.Param("name"))
	if err != nil {
		return err
	}
	m := route.NewMessages()
	m.Infof("envvar %s deleted", deleted.Name)
	return route.WriteJSON(w, http.StatusOK, envvars.EnvvarResponse{Envvar: *deleted, Messages: m})
}

func (s *Store) handleQuota(w http.ResponseWriter, r *route.Request) error {
	q, err := s.Quota(r.Context(), r.Tool)
	if err != nil {
		return err
	}
	return route.WriteJSON(w, http.StatusOK, envvars.QuotaResponse{Quota: *q, Messages: route.NewMessages()})
}
